namespace JP1Dist.Contracts;

/// <summary>Manager processes: Get-, Start- and Stop-DistManager.</summary>
public interface IManagerService
{
    /// <summary>The address a manager listens on when none is given: loopback only.</summary>
    const string DefaultListenUrl = "http://127.0.0.1:22400";

    /// <summary>The managers that announced themselves, newest heartbeat first; IsAlive tells which run now.</summary>
    Task<IReadOnlyList<DistManagerInfo>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Starts a manager for this session on its data folder and returns once it serves; it ends with the session.
    /// Refused where a manager already runs there (ManagerAlreadyRunning).
    /// </summary>
    Task<DistManagerInfo> StartAsync(string listenUrl, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        StartAsync(new ManagerStartRequest(listenUrl), timeout, cancellationToken);

    /// <summary>Starts a manager as <see cref="StartAsync(string, TimeSpan, CancellationToken)"/> does, with its certificate and plain-HTTP rule.</summary>
    Task<DistManagerInfo> StartAsync(ManagerStartRequest request, TimeSpan timeout, CancellationToken cancellationToken = default);

    /// <summary>The manager this session started and has not stopped; ManagerNotStartedHere when there is none.</summary>
    DistManagerInfo GetStartedHere();

    /// <summary>
    /// Stops the manager this session started, cleanly (killed if it has not stopped within the timeout). The process id
    /// is the one the caller confirmed: any other is refused (ManagerNotStartedHere), so nothing is stopped unconfirmed.
    /// </summary>
    Task StopAsync(int processId, TimeSpan timeout, CancellationToken cancellationToken = default);
}

/// <summary>
/// How a manager started for a session serves (Start-DistManager): its listen URL, an administrator's certificate for an
/// https:// listener (PFX, or PEM with its key in the file or in CertificateKeyPath; its password travels to the manager
/// process in its environment, never on its command line), and whether plain HTTP may listen beyond loopback.
/// </summary>
public sealed record ManagerStartRequest(string ListenUrl)
{
    public string? CertificatePath { get; init; }

    public string? CertificateKeyPath { get; init; }

    public string? CertificatePassword { get; init; }

    public bool AllowInsecureHttp { get; init; }
}
