using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace JP1Dist.PowerShell.Loader;

/// <summary>
/// Loads the contracts, the engine and everything they depend on (EF Core, SQLite) from the module's
/// Dependencies folder into a load context of their own, so another module's copies of the same
/// libraries neither break ours nor are broken by ours. Native libraries (e_sqlite3) are resolved
/// from Dependencies/runtimes/RID/native, which a module folder does not otherwise probe.
/// </summary>
internal sealed class DependencyLoadContext : AssemblyLoadContext
{
    private readonly string _folder;

    public DependencyLoadContext(string folder) : base("JP1Dist.Dependencies", isCollectible: false) => _folder = folder;

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        var path = Path.Combine(_folder, assemblyName.Name + ".dll");
        // Framework assemblies are not in the folder and come from the default context.
        return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        foreach (var rid in RuntimeIdentifiers())
        {
            var native = Path.Combine(_folder, "runtimes", rid, "native");
            foreach (var candidate in FileNames(unmanagedDllName))
            {
                var path = Path.Combine(native, candidate);
                if (File.Exists(path))
                {
                    return LoadUnmanagedDllFromPath(path);
                }
            }
        }
        return IntPtr.Zero;
    }

    private static IEnumerable<string> RuntimeIdentifiers()
    {
        yield return RuntimeInformation.RuntimeIdentifier;
        var architecture = RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        if (OperatingSystem.IsWindows())
        {
            yield return "win-" + architecture;
        }
        else if (OperatingSystem.IsMacOS())
        {
            yield return "osx-" + architecture;
            yield return "osx";
        }
        else if (RuntimeInformation.RuntimeIdentifier.Contains("musl", StringComparison.Ordinal))
        {
            // A glibc build does not load on musl (Alpine): better no library, and a clear DllNotFoundException.
            yield return "linux-musl-" + architecture;
        }
        else
        {
            yield return "linux-" + architecture;
        }
    }

    private static IEnumerable<string> FileNames(string name)
    {
        yield return name;
        if (OperatingSystem.IsWindows())
        {
            yield return name + ".dll";
        }
        else if (OperatingSystem.IsMacOS())
        {
            yield return "lib" + name + ".dylib";
            yield return name + ".dylib";
        }
        else
        {
            yield return "lib" + name + ".so";
            yield return name + ".so";
        }
    }
}
