extern alias Core;
using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;
using JP1Dist.Client;
using JP1Dist.Contracts;
using JP1Dist.Protocol;
using LocalEngine = Core::JP1Dist.Core.DistEngine;

namespace JP1Dist.PowerShell;

/// <summary>
/// Which implementation of the service contracts this session's cmdlets use, the one place that decides it:
/// <list type="number">
/// <item>the manager this session connected to with Connect-DistManager (its admin API over HTTPS), per runspace;</item>
/// <item>else the manager named by JP1DIST_MANAGER_URI with JP1DIST_ACCESS_KEY and JP1DIST_CERTIFICATE_PIN, for runbooks that
/// cannot keep a session (read at every call, like the data folder);</item>
/// <item>else the engine in-process on the data folder ($env:JP1DIST_HOME, else the per-user default), read at every call so
/// that changing JP1DIST_HOME in a session takes effect.</item>
/// </list>
/// The engine's assembly is referenced under the alias Core, so this is the only file of the module that can reach it: the
/// cmdlets see the contracts alone, and cannot tell the engine from a manager's API.
/// </summary>
internal static class DistSession
{
    public const string UriVariable = "JP1DIST_MANAGER_URI";
    public const string KeyVariable = "JP1DIST_ACCESS_KEY";
    public const string PinVariable = "JP1DIST_CERTIFICATE_PIN";

    /// <summary>Where the jp1dist executable sits: out/jp1dist beside the module folder out/JP1Dist (for Start-DistManager).</summary>
    private static readonly Lazy<string?> ExecutableFolder = new(() =>
        Path.GetDirectoryName(typeof(DistSession).Assembly.Location) is { Length: > 0 } module
            ? Path.GetFullPath(Path.Combine(module, "..", "jp1dist"))
            : null);

    /// <summary>The connection of each runspace that called Connect-DistManager (a session is a runspace; several may share a process).</summary>
    private static readonly ConditionalWeakTable<Runspace, Connected> Connections = new();

    /// <summary>The connection the environment names, kept while the variables stay the same.</summary>
    private static Connected? _fromEnvironment;
    private static readonly Lock EnvironmentLock = new();

    private sealed record Connected(RemoteServices Services, DistConnection Connection, string Identity);

    /// <summary>The services the cmdlets of the calling thread's runspace call.</summary>
    public static IDistServices Services => For(Runspace.DefaultRunspace);

    /// <summary>The services the cmdlets of <paramref name="runspace"/> call.</summary>
    public static IDistServices For(Runspace? runspace) => Current(runspace) is { } connected
        ? connected.Services
        : LocalEngine.ForFolder(executableFolder: ExecutableFolder.Value);

    /// <summary>What the calling thread's runspace acts on now.</summary>
    public static DistConnection Connection => Current(Runspace.DefaultRunspace)?.Connection
        ?? new DistConnection(false, ((IDistServices)LocalEngine.ForFolder(executableFolder: ExecutableFolder.Value)).Location, "Local");

    /// <summary>
    /// Connects this runspace to a manager: checks the address, the certificate and the key by asking the manager who the key
    /// is (AccessKeyUnknown and the like, CertificateNotTrusted, ManagerUnreachable otherwise), and from then on every cmdlet
    /// of the runspace acts there.
    /// </summary>
    public static async Task<DistConnection> ConnectAsync(Runspace? runspace, Uri manager, string accessKey, string? pin, CancellationToken cancellationToken)
    {
        // Taken by the caller on the pipeline thread: after an await this runs where no runspace is the default.
        ArgumentNullException.ThrowIfNull(runspace);
        var connected = await OpenAsync(manager, accessKey, pin, "Connect-DistManager", cancellationToken);
        if (Connections.TryGetValue(runspace, out var previous))
        {
            previous.Services.Dispose();
        }
        Connections.AddOrUpdate(runspace, connected);
        return connected.Connection;
    }

    /// <summary>Returns this runspace to what the environment names, or to the local engine; whether it was connected.</summary>
    public static bool Disconnect()
    {
        if (Runspace.DefaultRunspace is { } runspace && Connections.TryGetValue(runspace, out var connected))
        {
            Connections.Remove(runspace);
            connected.Services.Dispose();
            return true;
        }
        return false;
    }

    private static Connected? Current(Runspace? runspace)
    {
        if (runspace is not null && Connections.TryGetValue(runspace, out var connected))
        {
            return connected;
        }
        if (Environment.GetEnvironmentVariable(UriVariable) is not { Length: > 0 } uri)
        {
            return null;
        }
        var key = Environment.GetEnvironmentVariable(KeyVariable);
        var pin = Environment.GetEnvironmentVariable(PinVariable) is { Length: > 0 } p ? p : null;
        var identity = $"{uri}\n{key}\n{pin}";
        lock (EnvironmentLock)
        {
            if (_fromEnvironment?.Identity != identity)
            {
                _fromEnvironment?.Services.Dispose();
                _fromEnvironment = null;
                if (!Uri.TryCreate(uri, UriKind.Absolute, out var parsed))
                {
                    throw new DistException("ManagerUriInvalid", DistErrorKind.InvalidArgument, $"{UriVariable} is '{uri}', which is not an https:// URL of a manager.", uri);
                }
                var services = new RemoteServices(new AdminConnection(parsed, key ?? "", pin));
                _fromEnvironment = new Connected(services, new DistConnection(true, services.Location, UriVariable, CertificatePin: pin), identity);
            }
            return _fromEnvironment;
        }
    }

    private static async Task<Connected> OpenAsync(Uri manager, string accessKey, string? pin, string via, CancellationToken cancellationToken)
    {
        var services = new RemoteServices(new AdminConnection(manager, accessKey, pin));
        try
        {
            var who = await services.WhoAmIAsync(cancellationToken);
            return new Connected(services, new DistConnection(true, services.Location, via, who.Principal, who.Role, pin), via);
        }
        catch
        {
            services.Dispose();
            throw;
        }
    }
}
