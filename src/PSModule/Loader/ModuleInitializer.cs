using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;

namespace JP1Dist.PowerShell.Loader;

/// <summary>
/// Runs when PowerShell imports the nested loader module, before the cmdlet assembly is examined: routes the
/// cmdlets' one reference, the engine, into the module's own load context. Where the host process already
/// carries the engine (jp1dist run), that copy is used.
/// </summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    private const string EngineAssembly = "JP1Dist.Engine";
    private static readonly string DependencyFolder = Path.Combine(Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location)!, "Dependencies");
    private static readonly Lazy<DependencyLoadContext> Context = new(() => new DependencyLoadContext(DependencyFolder));

    public void OnImport() => AssemblyLoadContext.Default.Resolving += ResolveEngine;

    public void OnRemove(PSModuleInfo psModuleInfo) => AssemblyLoadContext.Default.Resolving -= ResolveEngine;

    private static Assembly? ResolveEngine(AssemblyLoadContext defaultContext, AssemblyName name)
    {
        if (!string.Equals(name.Name, EngineAssembly, StringComparison.Ordinal))
        {
            return null;
        }
        return Context.Value.LoadFromAssemblyName(name);
    }
}
