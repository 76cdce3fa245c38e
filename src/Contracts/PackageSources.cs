using JP1Dist.Protocol;

namespace JP1Dist.Contracts;

/// <summary>A file a package is made of: where it is on this computer, and its path inside the package ('/' separated).</summary>
public sealed record PackageSource(string FullPath, string RelativePath);

/// <summary>
/// Which files <c>New-DistPackage -Path</c> takes: the file itself, or every file below the folder (links not followed),
/// in ordinal order of their paths inside the package. One rule for the engine that stores them on its own computer and
/// for a session that uploads them to a manager elsewhere, so both make the same package of the same folder.
/// </summary>
public static class PackageSources
{
    /// <summary>The files of <paramref name="path"/>; PackagePathMissing, PackagePathNotFound or PackagePathEmpty otherwise.</summary>
    public static IReadOnlyList<PackageSource> Enumerate(string? path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new DistException("PackagePathMissing", DistErrorKind.InvalidArgument, "The package path is empty.");
        }
        var full = Path.GetFullPath(path);
        if (File.Exists(full))
        {
            return [new PackageSource(full, Path.GetFileName(full))];
        }
        if (!Directory.Exists(full))
        {
            throw new DistException("PackagePathNotFound", DistErrorKind.NotFound, $"The package path '{path}' does not exist.", path);
        }
        var files = Directory.EnumerateFiles(full, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint, IgnoreInaccessible = false })
            .Select(f => new PackageSource(f, Path.GetRelativePath(full, f).Replace('\\', '/')))
            .OrderBy(f => f.RelativePath, StringComparer.Ordinal)
            .ToList();
        if (files.Count == 0)
        {
            throw new DistException("PackagePathEmpty", DistErrorKind.InvalidArgument, $"The package folder '{path}' contains no files.", path);
        }
        return files;
    }
}
