extern alias Core;
using JP1Dist.Contracts;
using LocalEngine = Core::JP1Dist.Core.DistEngine;

namespace JP1Dist.PowerShell;

/// <summary>
/// Which implementation of the service contracts this session's cmdlets use. Today that is the engine in-process on
/// the data folder ($env:JP1DIST_HOME, else the per-user default), read at every call so that changing JP1DIST_HOME
/// in a session takes effect; a connection to a manager elsewhere will be chosen here too. The engine's assembly is
/// referenced under the alias Core, so this is the only file of the module that can reach it: the cmdlets see the
/// contracts alone.
/// </summary>
internal static class DistSession
{
    /// <summary>Where the jp1dist executable sits: out/jp1dist beside the module folder out/JP1Dist (for Start-DistManager).</summary>
    private static readonly Lazy<string?> ExecutableFolder = new(() =>
        Path.GetDirectoryName(typeof(DistSession).Assembly.Location) is { Length: > 0 } module
            ? Path.GetFullPath(Path.Combine(module, "..", "jp1dist"))
            : null);

    /// <summary>The services the cmdlets call.</summary>
    public static IDistServices Services => LocalEngine.ForFolder(executableFolder: ExecutableFolder.Value);
}
