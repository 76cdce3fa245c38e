using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.Server.Manager;

/// <summary>How a manager process runs.</summary>
public sealed class ManagerOptions
{
    /// <summary>The default listen address: loopback only, until TLS and remote administration are configured.</summary>
    public const string DefaultListenUrl = IManagerService.DefaultListenUrl;

    /// <summary>Where agents reach the manager. Port 0 picks a free port, announced in the database.</summary>
    public string ListenUrl { get; set; } = DefaultListenUrl;

    /// <summary>The certificate for https (default: the manager's own, in the keys folder) and the plain-HTTP rule.</summary>
    public Serving.NodeTlsOptions Tls { get; set; } = new();

    /// <summary>The data folder; null means JP1DIST_HOME or the application-data default.</summary>
    public string? Home { get; set; }

    /// <summary>
    /// The database (--database; see <see cref="Core.Storage.DatabaseSettings"/>): when given, it is recorded in the data folder.
    /// Null: JP1DIST_DATABASE, else the data folder's record, else its SQLite file.
    /// </summary>
    public string? Database { get; set; }

    /// <summary>How often the manager looks for executions a cmdlet recorded, when no nudge arrives.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a poll waits for work before answering "nothing".</summary>
    public TimeSpan MaxPollWait { get; set; } = ProtocolLimits.PollWait;

    /// <summary>A secret that lets the process that started this manager stop it over loopback (Stop-DistManager).</summary>
    public string? ShutdownSecret { get; set; } = Environment.GetEnvironmentVariable("JP1DIST_SHUTDOWN_SECRET");

    /// <summary>When set, the manager stops when this process ends (a manager hosted for a PowerShell session).</summary>
    public int? ParentProcessId { get; set; } = int.TryParse(Environment.GetEnvironmentVariable("JP1DIST_PARENT_PID"), out var pid) ? pid : null;

    /// <summary>The default of <see cref="AdminRequestsPerMinute"/>: ten a second on average, a minute's worth at once.</summary>
    public const int DefaultAdminRequestsPerMinute = 600;

    /// <summary>
    /// How many admin API requests one access key may make a minute (<see cref="AdminRateLimit"/>); requests whose key is
    /// refused count against their source address with the same limit, so guessing keys is held to it too.
    /// </summary>
    public int AdminRequestsPerMinute { get; set; } = DefaultAdminRequestsPerMinute;

    /// <summary>The most client connections served at once (null: the file-descriptor limit less a reserve; see ConnectionBudget).</summary>
    public int? MaxConnections { get; set; }

    /// <summary>
    /// How long the audit log keeps an entry (at least <see cref="Core.Audit.AuditRetention.Minimum"/>, 30 days): older ones are
    /// archived to the data folder's logs/audit-archive and removed by <see cref="AuditRetentionSweep"/>.
    /// </summary>
    public TimeSpan AuditRetention { get; set; } = Core.Audit.AuditRetention.Default;
    /// <summary>
    /// Where a job's Wake-on-LAN packets go instead of each host's broadcast address (--wake-address); null: the broadcast
    /// address of the host's last reported network. For sites whose routers forward a directed broadcast, and for tests.
    /// </summary>
    public System.Net.IPAddress? WakeAddress { get; set; }

    /// <summary>The UDP port of a job's Wake-on-LAN packets (--wake-port; 9 by default).</summary>
    public int WakePort { get; set; } = Protocol.Power.MagicPacket.DefaultPort;

    /// <summary>Whether to log to the console as well as to the file.</summary>
    public bool QuietConsole { get; set; }
}
