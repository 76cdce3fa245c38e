using System.Collections.Frozen;

namespace JP1Dist.Contracts;

/// <summary>
/// What a caller may do: each role allows everything the one before it allows, and more. A process on the manager's
/// computer that can open its data folder acts as an Administrator; an access key carries one role.
/// </summary>
public enum DistRole
{
    /// <summary>Reads everything: every Get- and Wait- cmdlet.</summary>
    Reader = 1,

    /// <summary>A Reader that also executes and controls jobs (Start-, Restart-, Suspend-, Resume- and Stop-DistJob) and wakes and shuts down hosts (Start-, Stop-DistHost).</summary>
    Operator = 2,

    /// <summary>Everything.</summary>
    Administrator = 3,
}

/// <summary>
/// The operations of JP1Dist, named as the cmdlets that perform them, and the role each needs. The one table of who may do
/// what: the engine checks it before every change, the audit log names operations with these names, and the manager's
/// admin API enforces it for every endpoint. An operation not in the table needs an Administrator.
/// </summary>
public static class DistOperations
{
    public const string NewPackage = "New-DistPackage";
    public const string GetPackage = "Get-DistPackage";
    public const string SetPackage = "Set-DistPackage";
    public const string RemovePackage = "Remove-DistPackage";

    public const string NewEnrollmentToken = "New-DistEnrollmentToken";
    public const string GetEnrollmentToken = "Get-DistEnrollmentToken";
    public const string RemoveEnrollmentToken = "Remove-DistEnrollmentToken";
    public const string GetHost = "Get-DistHost";
    public const string RemoveHost = "Remove-DistHost";
    public const string ApproveHost = "Approve-DistHost";
    public const string DenyHost = "Deny-DistHost";
    public const string StartHost = "Start-DistHost";
    public const string StopHost = "Stop-DistHost";

    public const string NewJob = "New-DistJob";
    public const string GetJob = "Get-DistJob";
    public const string StartJob = "Start-DistJob";
    public const string RestartJob = "Restart-DistJob";
    public const string SuspendJob = "Suspend-DistJob";
    public const string ResumeJob = "Resume-DistJob";
    public const string StopJob = "Stop-DistJob";
    public const string RemoveJob = "Remove-DistJob";
    public const string WaitJob = "Wait-DistJob";
    public const string GetJobStatus = "Get-DistJobStatus";

    public const string StartManager = "Start-DistManager";
    public const string StopManager = "Stop-DistManager";
    public const string GetManager = "Get-DistManager";
    public const string ConnectManager = "Connect-DistManager";
    public const string DisconnectManager = "Disconnect-DistManager";

    public const string GetInventory = "Get-DistInventory";

    public const string NewHostGroup = "New-DistHostGroup";
    public const string GetHostGroup = "Get-DistHostGroup";
    public const string RemoveHostGroup = "Remove-DistHostGroup";
    public const string AddHostGroupMember = "Add-DistHostGroupMember";
    public const string RemoveHostGroupMember = "Remove-DistHostGroupMember";

    public const string NewIdGroup = "New-DistIdGroup";
    public const string GetIdGroup = "Get-DistIdGroup";
    public const string RemoveIdGroup = "Remove-DistIdGroup";
    public const string AddIdGroupMember = "Add-DistIdGroupMember";
    public const string RemoveIdGroupMember = "Remove-DistIdGroupMember";
    public const string SetIdGroupPolicy = "Set-DistIdGroupPolicy";
    public const string GetIdGroupPolicy = "Get-DistIdGroupPolicy";

    public const string GetSigningKey = "Get-DistSigningKey";
    public const string UpdateSigningKey = "Update-DistSigningKey";

    public const string NewAccessKey = "New-DistAccessKey";
    public const string GetAccessKey = "Get-DistAccessKey";
    public const string RemoveAccessKey = "Remove-DistAccessKey";
    public const string GetAuditLog = "Get-DistAuditLog";

    public const string ExportOfflineMedia = "Export-DistOfflineMedia";
    public const string ImportOfflineResult = "Import-DistOfflineResult";

    /// <summary>
    /// The cmdlets that act on this computer's agent through its local channel, not on a manager: no role applies to them
    /// (the channel admits the agent's own account only), and no manager sees or audits them as operations; the install
    /// they start is reported to the manager by the agent like any other.
    /// </summary>
    public static FrozenSet<string> AgentSide { get; } = new[] { "Get-DistAvailablePackage", "Install-DistAvailablePackage" }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>Every operation and the least role that may perform it (names compare without regard to case).</summary>
    public static FrozenDictionary<string, DistRole> RequiredRoles { get; } = new Dictionary<string, DistRole>(StringComparer.OrdinalIgnoreCase)
    {
        // Reader: every read.
        [GetPackage] = DistRole.Reader,
        [GetEnrollmentToken] = DistRole.Reader,
        [GetHost] = DistRole.Reader,
        [GetJob] = DistRole.Reader,
        [WaitJob] = DistRole.Reader,
        [GetJobStatus] = DistRole.Reader,
        [GetManager] = DistRole.Reader,
        [GetInventory] = DistRole.Reader,
        [GetHostGroup] = DistRole.Reader,
        [GetIdGroup] = DistRole.Reader,
        [GetIdGroupPolicy] = DistRole.Reader,
        [GetSigningKey] = DistRole.Reader,
        [GetAccessKey] = DistRole.Reader,
        [GetAuditLog] = DistRole.Reader,
        // Choosing the manager a session acts on changes nothing on any manager.
        [ConnectManager] = DistRole.Reader,
        [DisconnectManager] = DistRole.Reader,
        // Operator: executing and controlling saved jobs, nothing that defines what is distributed or where.
        [StartJob] = DistRole.Operator,
        // Waking and shutting down computers around a distribution is running it, not defining it.
        [StartHost] = DistRole.Operator,
        [StopHost] = DistRole.Operator,
        [RestartJob] = DistRole.Operator,
        [SuspendJob] = DistRole.Operator,
        [ResumeJob] = DistRole.Operator,
        [StopJob] = DistRole.Operator,
        // Administrator: every other change.
        [NewPackage] = DistRole.Administrator,
        [SetPackage] = DistRole.Administrator,
        [RemovePackage] = DistRole.Administrator,
        [NewEnrollmentToken] = DistRole.Administrator,
        [RemoveEnrollmentToken] = DistRole.Administrator,
        [RemoveHost] = DistRole.Administrator,
        [ApproveHost] = DistRole.Administrator,
        [DenyHost] = DistRole.Administrator,
        [NewJob] = DistRole.Administrator,
        [RemoveJob] = DistRole.Administrator,
        [ExportOfflineMedia] = DistRole.Administrator,
        [ImportOfflineResult] = DistRole.Administrator,
        [StartManager] = DistRole.Administrator,
        [StopManager] = DistRole.Administrator,
        [NewHostGroup] = DistRole.Administrator,
        [RemoveHostGroup] = DistRole.Administrator,
        [AddHostGroupMember] = DistRole.Administrator,
        [RemoveHostGroupMember] = DistRole.Administrator,
        [NewIdGroup] = DistRole.Administrator,
        [RemoveIdGroup] = DistRole.Administrator,
        [AddIdGroupMember] = DistRole.Administrator,
        [RemoveIdGroupMember] = DistRole.Administrator,
        [SetIdGroupPolicy] = DistRole.Administrator,
        [UpdateSigningKey] = DistRole.Administrator,
        [NewAccessKey] = DistRole.Administrator,
        [RemoveAccessKey] = DistRole.Administrator,
    }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    /// <summary>The least role that may perform the operation; Administrator for one the table does not know.</summary>
    public static DistRole RequiredRole(string operation) =>
        RequiredRoles.TryGetValue(operation, out var role) ? role : DistRole.Administrator;

    /// <summary>Whether a caller with <paramref name="role"/> may perform the operation.</summary>
    public static bool Allows(this DistRole role, string operation) => role >= RequiredRole(operation);

    /// <summary>
    /// Operations renamed with their cmdlets (every noun took the Dist prefix), former name to current name. The audit log
    /// keeps what it recorded; a search for the current name finds the entries recorded under the former one as well.
    /// </summary>
    public static readonly FrozenDictionary<string, string> FormerNames = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["Set-IdGroupPolicy"] = SetIdGroupPolicy,
        ["Get-IdGroupPolicy"] = GetIdGroupPolicy,
    }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    /// <summary>The current name of an operation that may have been recorded under a former name.</summary>
    public static string CurrentName(string operation) => FormerNames.GetValueOrDefault(operation, operation);
}
