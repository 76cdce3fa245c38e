using System.IO.Compression;
using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// Export-DistOfflineMedia: writes what one host of an executed job needs to install without the network (the signed work
/// item, the package's files, a result key) to a folder or, with -Archive, one .zip file. The media are written beside the
/// destination and moved into place whole: a failed export leaves nothing there.
/// </summary>
[Cmdlet(VerbsData.Export, "DistOfflineMedia", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(DistOfflineMedia))]
public sealed class ExportDistOfflineMediaCommand : DistCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("JobName")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(JobNameCompleter))]
    public string Job { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [Alias("ComputerName")]
    [ValidateNotNullOrEmpty]
    public string HostName { get; set; } = "";

    /// <summary>The folder to write (it must not exist, or be empty); with -Archive, the .zip file.</summary>
    [Parameter(Mandatory = true, Position = 2)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>One .zip file instead of a folder.</summary>
    [Parameter]
    public SwitchParameter Archive { get; set; }

    protected override void ProcessRecord()
    {
        var destination = GetUnresolvedProviderPathFromPSPath(Path);
        if (Archive ? File.Exists(destination) || Directory.Exists(destination)
                    : File.Exists(destination) || (Directory.Exists(destination) && Directory.EnumerateFileSystemEntries(destination).Any()))
        {
            ThrowInvalidArgument("OfflineMediaPathExists", $"'{destination}' exists{(Archive ? "" : " and is not empty")}; give a new {(Archive ? "file" : "folder")} for the media.", destination);
        }
        if (!ShouldProcess($"offline media for host '{HostName}' of job '{Job}' at '{destination}'", "Export"))
        {
            return;
        }
        var media = Run(token => WriteAsync(destination, token), Job);
        WriteObject(media);
    }

    private async Task<DistOfflineMedia> WriteAsync(string destination, CancellationToken token)
    {
        var media = await Services.Offline.ExportAsync(Job, HostName, token);
        var parent = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(destination))!;
        Directory.CreateDirectory(parent);
        var building = System.IO.Path.Combine(parent, $".{System.IO.Path.GetFileName(destination)}.partial-{Guid.NewGuid():N}");
        try
        {
            var content = Directory.CreateDirectory(System.IO.Path.Combine(building, OfflineMediaFiles.Content)).FullName;
            foreach (var file in media.Content)
            {
                await CopyCheckedAsync(media, file, System.IO.Path.Combine(content, file.Sha256), token);
            }
            await File.WriteAllTextAsync(System.IO.Path.Combine(building, OfflineMediaFiles.Description), media.Description, token);
            if (Archive)
            {
                ZipFile.CreateFromDirectory(building, destination);
                Directory.Delete(building, recursive: true);
            }
            else
            {
                if (Directory.Exists(destination))
                {
                    Directory.Delete(destination); // empty, checked above
                }
                Directory.Move(building, destination);
            }
            return media with { Path = destination };
        }
        catch
        {
            if (Directory.Exists(building))
            {
                Directory.Delete(building, recursive: true);
            }
            throw;
        }
    }

    /// <summary>Copies one file of the package, checking its size and SHA-256 on the way (it may come over the network).</summary>
    private async Task CopyCheckedAsync(DistOfflineMedia media, DistOfflineContent file, string target, CancellationToken token)
    {
        await using var source = await Services.Offline.OpenContentAsync(media.MediaId, file.Sha256, token);
        string sha;
        long size;
        await using (var output = File.Create(target))
        {
            (sha, size) = await ContentHash.CopyAsync(source, output, file.Size, token);
        }
        if (size != file.Size || !string.Equals(sha, file.Sha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new DistException("OfflineContentMismatch", DistErrorKind.NotAvailable,
                $"A file of package '{media.PackageName}' ({file.Sha256}) did not arrive as the manager stores it; nothing was written. Run Export-DistOfflineMedia again.", file.Sha256);
        }
    }
}
