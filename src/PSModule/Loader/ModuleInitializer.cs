using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;

namespace JP1Dist.PowerShell.Loader;

/// <summary>
/// Runs when PowerShell imports the nested loader module, before the cmdlet assembly is examined: routes the cmdlets'
/// references to JP1Dist assemblies (the contracts, the protocol, the engine) into the module's own load context, where
/// everything they use comes from Dependencies/. Where the host process already carries them (jp1dist run), those
/// copies are used and this never runs.
/// </summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    private const string OwnPrefix = "JP1Dist.";
    private static readonly string DependencyFolder = Path.Combine(Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location)!, "Dependencies");
    private static readonly Lazy<DependencyLoadContext> Context = new(() => new DependencyLoadContext(DependencyFolder));

    public void OnImport() => AssemblyLoadContext.Default.Resolving += ResolveOwn;

    public void OnRemove(PSModuleInfo psModuleInfo) => AssemblyLoadContext.Default.Resolving -= ResolveOwn;

    private static Assembly? ResolveOwn(AssemblyLoadContext defaultContext, AssemblyName name)
    {
        // Only our own assemblies, and only those the module ships: for anything else (another module's missing
        // dependency) the default context's answer stands. A name the folder lacks is not handed to our context either,
        // which would fall back to the default context, raise this event again and recurse until the stack overflows.
        if (name.Name is not { } simple || !simple.StartsWith(OwnPrefix, StringComparison.Ordinal)
            || !File.Exists(Path.Combine(DependencyFolder, simple + ".dll")))
        {
            return null;
        }
        return Context.Value.LoadFromAssemblyName(name);
    }
}
