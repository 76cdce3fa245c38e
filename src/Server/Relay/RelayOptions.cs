using JP1Dist.Protocol;

namespace JP1Dist.Server.Relay;

/// <summary>How a relay process runs.</summary>
public sealed class RelayOptions
{
    /// <summary>The relay's higher system: the manager or another relay; the first it tries.</summary>
    public required Uri HigherSystemUrl { get; set; }

    /// <summary>Higher systems that stand in, in this order, while the one in use cannot serve (`--manager URL1,URL2,…`).</summary>
    public IReadOnlyList<Uri> FailoverUrls { get; set; } = [];

    /// <summary>Every higher system, in order of preference: <see cref="HigherSystemUrl"/>, then <see cref="FailoverUrls"/>.</summary>
    public IReadOnlyList<Uri> HigherSystemUrls => [HigherSystemUrl, .. FailoverUrls.Where(u => u != HigherSystemUrl)];

    /// <summary>How long the relay stays on a stand-in before it tries its first higher system again.</summary>
    public TimeSpan ReturnToFirstAfter { get; set; } = Agent.HigherSystems.DefaultReturnAfter;

    /// <summary>The enrollment token for the relay's own first registration.</summary>
    public string? Token { get; set; }

    /// <summary>The pin of the higher system's certificate (--certificate-pin); overrides the token's and the one the relay registered with.</summary>
    public string? CertificatePin { get; set; }

    /// <summary>Where lower clients reach the relay. Port 0 picks a free port.</summary>
    public string ListenUrl { get; set; } = "http://127.0.0.1:22401";

    /// <summary>The most client connections served at once (null: the file-descriptor limit less a reserve; see ConnectionBudget).</summary>
    public int? MaxConnections { get; set; }

    /// <summary>
    /// The certificate for an https listener (default: the relay's own, <see cref="Serving.NodeCertificate.FileName"/> in
    /// the state folder), and whether plain HTTP may leave loopback, for the listener and the connection upward alike.
    /// </summary>
    public Serving.NodeTlsOptions Tls { get; set; } = new();

    /// <summary>The host name the relay registers under; the computer's name by default.</summary>
    public string Name { get; set; } = Environment.MachineName;

    /// <summary>The relay's state folder: its own client state, its store of lower clients and work, its package cache, logs.</summary>
    public required string StateFolder { get; set; }

    /// <summary>The install wrapper for installs of the relay's own client role (<see cref="Agent.AgentOptions.InstallWrapper"/>).</summary>
    public IReadOnlyList<string>? InstallWrapper { get; set; }

    /// <summary>
    /// The restart and shutdown commands and grace of the relay's own client role (the relay's computer is a host that
    /// Stop-DistHost and -ShutdownAfter may target); null: the operating system's own, with the default grace.
    /// </summary>
    public Agent.PowerCommands? Power { get; set; }

    /// <summary>How long a lower client's poll may wait for work.</summary>
    public TimeSpan MaxPollWait { get; set; } = ProtocolLimits.PollWait;

    /// <summary>
    /// How long the relay's own poll upward waits, within its higher system's hold (<see cref="ProtocolLimits.PollWait"/>).
    /// One poll per relay: unlike its clients' polls, how often it comes does not weigh on the higher system.
    /// </summary>
    public TimeSpan UpwardPollWait { get; set; } = TimeSpan.FromSeconds(25);

    /// <summary>How long a report waits for the higher system's answer before the relay answers from what it knows (the report stays queued).</summary>
    public TimeSpan ReportAnswerWait { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the relay removes expired packages and cached content no work needs any more.</summary>
    public TimeSpan PruneInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How long content fetched for installs (not stored by a transfer-to-relay job) stays after no work needs it.</summary>
    public TimeSpan CacheGrace { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Whether to log to the console as well as to the file.</summary>
    public bool QuietConsole { get; set; }

    /// <summary>The relay's own client state (identity, tickets): the same layout as an agent's.</summary>
    public string AgentFolder => Path.Combine(StateFolder, "agent");

    /// <summary>The relay's store: lower clients, the work snapshot, the outbox, the stored packages.</summary>
    public string DatabasePath => Path.Combine(StateFolder, "relay.db");

    /// <summary>The package cache (content by SHA-256).</summary>
    public string CacheFolder => Path.Combine(StateFolder, "cache");

    public string LogsFolder => Path.Combine(StateFolder, "logs");

    /// <summary>The default state folder for a named relay: per-user application data.</summary>
    public static string DefaultStateFolder(string name) => Path.Combine(
        Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create),
        "JP1Dist", "relay-" + name);
}
