using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Tls;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Managers;

/// <summary>
/// The managers of one data folder: those that announced themselves (a heartbeat row each), whether one runs, the
/// nudge that tells it of new intent, and the manager this process started for a PowerShell session.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification =
    "Lives as long as its engine, for the process; a SemaphoreSlim whose wait handle is never asked for holds nothing to release.")]
public sealed class ManagerService(DistEngine engine, ManagerService? sharing = null) : IManagerService
{
    /// <summary>How old a manager heartbeat may be for the manager to count as running.</summary>
    public static readonly TimeSpan HeartbeatTimeout = TimeSpan.FromSeconds(15);

    /// <summary>The manager this process started; the engine of another caller (<see cref="DistEngine.As"/>) shares its local engine's.</summary>
    private readonly Launch _launch = sharing?._launch ?? new();

    private sealed class Launch
    {
        public readonly Lock Gate = new();
        public readonly SemaphoreSlim Starting = new(1, 1);
        public LaunchedManager? Started;
        public string? ExecutableFolder;
    }

    /// <summary>
    /// Where the jp1dist executable is, for <see cref="StartAsync"/>: whoever opens the engine for a session sets it
    /// (the module: out/jp1dist beside out/JP1Dist). JP1DIST_EXE overrides it.
    /// </summary>
    public string? ExecutableFolder
    {
        get => _launch.ExecutableFolder;
        set => _launch.ExecutableFolder = value;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<DistManagerInfo>> ListAsync(CancellationToken cancellationToken = default)
    {
        await using var db = engine.Database.CreateContext();
        var now = engine.Now;
        var rows = await db.ManagerNodes.AsNoTracking().OrderByDescending(m => m.HeartbeatAt).ToListAsync(cancellationToken);
        return rows.Select(m => new DistManagerInfo(m.Url, m.ProcessId, m.MachineName, m.StartedAt.AsLocal(), m.HeartbeatAt.AsLocal(),
            now - m.HeartbeatAt < HeartbeatTimeout && !IsGoneLocally(m), m.CertificatePin)).ToList();
    }

    /// <summary>True when a manager runs on this data folder now.</summary>
    public async Task<bool> AnyAliveAsync(CancellationToken cancellationToken = default) =>
        (await ListAsync(cancellationToken)).Any(m => m.IsAlive);

    /// <summary>Tells a running manager that new intent is recorded; best effort, since the manager also sweeps every second.</summary>
    /// <remarks>The manager wakes every waiting poll, so that they look again at once (resumed targets, power orders, withdrawn offers).</remarks>
    public Task NudgeAsync(CancellationToken cancellationToken = default) => NudgeAsync(wakePolls: true, cancellationToken);

    /// <summary>
    /// Tells a running manager that new intent is recorded. <paramref name="wakePolls"/> false when the change wakes the
    /// polls it concerns by itself: an execution, which the manager dispatches and whose hosts it wakes then. Waking every
    /// poll for it would have each of 10,000 agents look for work that is not dispatched yet, and answer empty.
    /// </summary>
    public async Task NudgeAsync(bool wakePolls, CancellationToken cancellationToken)
    {
        var path = wakePolls ? ApiPaths.Nudge : ApiPaths.Nudge + "?" + ApiPaths.NudgeKeepPollsQuery;
        // Every change a nudge announces may have moved targets: waits on job status in this process look again.
        engine.TargetChanges.Notify();
        foreach (var manager in (await ListAsync(cancellationToken)).Where(m => m.IsAlive))
        {
            try
            {
                // Held to the pin the manager recorded: the nudge goes to this data folder's manager, not to whoever answers.
                using var client = new HttpClient(CertificatePinning.CreateHandler(manager.CertificatePin)) { Timeout = TimeSpan.FromSeconds(2) };
                using var response = await client.PostAsync(new Uri(new Uri(manager.Url), path), null, cancellationToken);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or UriFormatException or ArgumentException
                or System.Net.Sockets.SocketException or IOException)
            {
                // A missed nudge costs at most one sweep interval. A manager that closes the connection at once (it serves as
                // many as it can) surfaces as a bare SocketException from the connection's setup, not an HttpRequestException.
            }
        }
    }

    /// <inheritdoc />
    public async Task<DistManagerInfo> StartAsync(ManagerStartRequest request, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var change = await engine.Audit.AuthorizeAsync(DistOperations.StartManager, request.ListenUrl, cancellationToken);
        // One start at a time: the launcher's check that no manager runs on the folder (this session's included, by its
        // heartbeat) and the launch are one step for this process.
        await _launch.Starting.WaitAsync(cancellationToken);
        try
        {
            var launched = await ManagerLauncher.StartAsync(ExecutableFolder, request, engine, timeout, cancellationToken);
            lock (_launch.Gate)
            {
                _launch.Started?.Dispose();
                _launch.Started = launched;
            }
            var started = (await ListAsync(cancellationToken)).First(m => m.ProcessId == launched.Process.Id);
            // A process, not a transaction: recorded once it serves (the certificate's password is not a parameter to keep).
            await change.RecordAsync(started.Url, new
            {
                Listen = request.ListenUrl, request.CertificatePath, request.CertificateKeyPath, request.AllowInsecureHttp, started.ProcessId,
            }, cancellationToken);
            return started;
        }
        finally
        {
            _launch.Starting.Release();
        }
    }

    /// <inheritdoc />
    public DistManagerInfo GetStartedHere()
    {
        lock (_launch.Gate)
        {
            return _launch.Started is { } manager
                ? new DistManagerInfo(manager.Url, manager.Process.Id, Environment.MachineName, manager.StartedAt, manager.StartedAt, !manager.Process.HasExited, manager.CertificatePin)
                : throw NotStartedHere();
        }
    }

    /// <inheritdoc />
    public async Task StopAsync(int processId, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var change = await engine.Audit.AuthorizeAsync(DistOperations.StopManager, processId.ToString(System.Globalization.CultureInfo.InvariantCulture), cancellationToken);
        LaunchedManager manager;
        lock (_launch.Gate)
        {
            manager = _launch.Started is { } started && started.Process.Id == processId ? started : throw NotStartedHere();
        }
        // Forgotten only once it has stopped: a stop that fails leaves it known, to be stopped again.
        await manager.StopAsync(timeout);
        lock (_launch.Gate)
        {
            if (ReferenceEquals(_launch.Started, manager))
            {
                _launch.Started = null;
            }
        }
        manager.Dispose();
        await change.RecordAsync(manager.Url, new { ProcessId = processId }, CancellationToken.None);
    }

    private DistException NotStartedHere() => new("ManagerNotStartedHere", DistErrorKind.InvalidOperation,
        $"This session started no manager on data folder '{engine.Folder.Root}'; a manager started elsewhere is stopped where it runs (Ctrl+C, or its service).",
        engine.Folder.Root);

    /// <summary>A manager on this computer whose process no longer exists is not running, whatever its last heartbeat says.</summary>
    private static bool IsGoneLocally(ManagerNodeRow manager) =>
        string.Equals(manager.MachineName, Environment.MachineName, StringComparison.OrdinalIgnoreCase) && !ProcessLiveness.IsRunning(manager.ProcessId);
}
