using JP1Dist.Protocol;

namespace JP1Dist.Agent;

/// <summary>How an agent runs.</summary>
public sealed class AgentOptions
{
    /// <summary>The higher system (manager or relay) the agent connects to: its own, the first it tries.</summary>
    public required Uri ManagerUrl { get; set; }

    /// <summary>
    /// Higher systems that stand in, in this order, while the one in use cannot serve (`--manager URL1,URL2,…` gives
    /// <see cref="ManagerUrl"/> and these): typically the manager behind a relay, or another relay.
    /// </summary>
    public IReadOnlyList<Uri> FailoverUrls { get; set; } = [];

    /// <summary>Every higher system, in order of preference: <see cref="ManagerUrl"/>, then <see cref="FailoverUrls"/>.</summary>
    public IReadOnlyList<Uri> HigherSystemUrls => [ManagerUrl, .. FailoverUrls.Where(u => u != ManagerUrl)];

    /// <summary>How long the agent stays on a stand-in before it tries its first higher system again (<see cref="HigherSystems.DefaultReturnAfter"/>).</summary>
    public TimeSpan ReturnToFirstAfter { get; set; } = HigherSystems.DefaultReturnAfter;

    /// <summary>
    /// The enrollment token for the first registration (its text, <see cref="JP1Dist.Protocol.EnrollmentTokenText"/>): the
    /// secret, and the fingerprints the agent checks the higher system against; not needed once the agent holds a credential.
    /// </summary>
    public string? Token { get; set; }

    /// <summary>
    /// The pin of the higher system's TLS certificate (--certificate-pin); overrides the token's and the identity's. Null:
    /// the token's pin, else the one kept in the identity, else the operating system's trust store decides.
    /// </summary>
    public string? CertificatePin { get; set; }

    /// <summary>Whether plain http:// to an address other than loopback is allowed (--allow-insecure-http).</summary>
    public bool AllowInsecureHttp { get; set; }

    /// <summary>The host name the agent registers under; the computer's name by default.</summary>
    public string Name { get; set; } = Environment.MachineName;

    /// <summary>The agent's own state folder: credential, tickets, downloads, staging, logs.</summary>
    public required string StateFolder { get; set; }

    /// <summary>What the host registers as: null (a client) or "Relay" (set by the relay process for its own client role).</summary>
    public string? Kind { get; set; }

    /// <summary>Where a relay serves its lower clients, registered for the administrator to see.</summary>
    public string? RelayUrl { get; set; }

    /// <summary>Do all pending work, then exit.</summary>
    public bool Once { get; set; }

    /// <summary>
    /// With <see cref="Once"/>: how long any one request waits for the higher system's answer (or for the next bytes of a
    /// package) before the run gives up on that higher system: a request that timed out is not asked again of it in this
    /// run, only of the next stand-in, so a higher system that accepts connections and never answers ends the run in
    /// bounded time (<see cref="Protocol.CommandExitCodes.Unavailable"/>). A running service keeps each request's own deadline.
    /// </summary>
    public TimeSpan OnceTimeout { get; set; } = DefaultOnceTimeout;

    /// <summary>The default of <see cref="OnceTimeout"/>: the deadline --once had for its work request already, long enough for a busy manager.</summary>
    public static readonly TimeSpan DefaultOnceTimeout = TimeSpan.FromSeconds(30);

    /// <summary>How long one poll waits for work: by default as long as a manager or relay holds one (<see cref="ProtocolLimits.PollWait"/>).</summary>
    public TimeSpan PollWait { get; set; } = ProtocolLimits.PollWait;

    /// <summary>How often an agent whose registration waits for approval asks again whether it was approved.</summary>
    public TimeSpan PendingRecheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The ceiling of the jittered back-off between attempts to reach the higher system after a failure or an answer the
    /// agent cannot use (30 s).
    /// </summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The program that restarts the computer when a job asks for it (--reboot-command); null: the operating system's restart.</summary>
    public string? RebootCommand { get; set; }

    /// <summary>The arguments of <see cref="RebootCommand"/> (--reboot-arguments).</summary>
    public IReadOnlyList<string> RebootArguments { get; set; } = [];

    /// <summary>The program that shuts the computer down when a job asks for it (--shutdown-command); null: the operating system's shutdown.</summary>
    public string? ShutdownCommand { get; set; }

    /// <summary>The arguments of <see cref="ShutdownCommand"/> (--shutdown-arguments).</summary>
    public IReadOnlyList<string> ShutdownArguments { get; set; } = [];

    /// <summary>How long the agent waits after a restart or shutdown was asked, and its work is done, before it runs the command (--reboot-grace-seconds).</summary>
    public TimeSpan PowerGrace { get; set; } = PowerActions.DefaultGrace;

    /// <summary>
    /// The command line of the install wrapper (`jp1dist run-install`, <see cref="InstallWrapper.ForThisProgram"/>), which
    /// runs each install command and records how it ended, so that an agent killed during an install learns at its next
    /// start whether the command still runs or how it ended. Null: install commands run directly (an embedded agent), and
    /// an install cut off by the agent's death is reported Failed.
    /// </summary>
    public IReadOnlyList<string>? InstallWrapper { get; set; }

    /// <summary>How often the agent reads its facts again and reports them when they changed.</summary>
    public TimeSpan FactsInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How often a failed segment is fetched again before the transfer fails.</summary>
    public int SegmentRetries { get; set; } = 3;

    /// <summary>
    /// How often a transfer reports its progress (after a segment, once this much time passed since the last report;
    /// after every segment when the job sets a segment interval). The answer is how a suspension reaches the agent, so
    /// it stops at the first segment boundary after this much time. Zero reports after every segment.
    /// </summary>
    public TimeSpan ProgressReportInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The default state folder for a named agent: per-user application data.</summary>
    public static string DefaultStateFolder(string name) => JP1Dist.Protocol.AgentStateFolders.Default(name);
}
