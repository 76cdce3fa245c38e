using System.Collections.Concurrent;
using JP1Dist.Engine.Manager;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>The managers this PowerShell process started, by data folder, so that Stop-DistManager can stop them cleanly.</summary>
internal static class SessionManagers
{
    public static readonly ConcurrentDictionary<string, LaunchedManager> ByHome = new(StringComparer.Ordinal);

    /// <summary>Where the jp1dist executable sits: out/jp1dist beside the module folder out/JP1Dist.</summary>
    public static string ExecutableFolder =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(typeof(SessionManagers).Assembly.Location)!, "..", "jp1dist"));
}
