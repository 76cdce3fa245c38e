namespace JP1Dist.Contracts;

/// <summary>
/// The manager's admin API, version 1: what a session connected with Connect-DistManager calls. One place for the paths, so
/// the manager that serves them and the client that calls them cannot drift apart. Names in a path are escaped
/// (<see cref="Uri.EscapeDataString(string)"/>); the product's names hold no slash, so every one fits in a segment.
/// </summary>
public static class AdminApiPaths
{
    /// <summary>The OpenAPI document's name and the path's version.</summary>
    public const string Version = "v1";

    /// <summary>Every admin path starts here.</summary>
    public const string Base = "/api/admin/v1";

    /// <summary>The OpenAPI document describing every endpoint below.</summary>
    public const string OpenApi = Base + "/openapi.json";

    /// <summary>The header carrying the access key: <c>Authorization: Bearer jp1key.…</c>.</summary>
    public const string Scheme = "Bearer";

    // Relative to Base. The server maps these patterns; the client fills them in.
    public const string Session = "session";
    public const string Packages = "packages";
    public const string Package = "packages/{name}/{version}";
    public const string PackageExpiry = "packages/{name}/{version}/expiry";
    public const string Uploads = "uploads";
    public const string Upload = "uploads/{id}";
    public const string UploadFile = "uploads/{id}/files/{index}";
    public const string UploadPackage = "uploads/{id}/package";
    public const string Jobs = "jobs";
    public const string Job = "jobs/{name}";
    public const string JobStart = "jobs/{name}/start";
    public const string JobRestart = "jobs/{name}/restart";
    public const string JobSuspend = "jobs/{name}/suspend";
    public const string JobResume = "jobs/{name}/resume";
    public const string JobStop = "jobs/{name}/stop";
    public const string JobStatus = "job-status";
    /// <summary>A long poll: answers when the status of the jobs named differs from the version given, or after the wait (30 s at most).</summary>
    public const string JobStatusWait = "job-status/wait";
    public const string EnrollmentTokens = "enrollment-tokens";
    public const string EnrollmentToken = "enrollment-tokens/{id}";
    public const string Hosts = "hosts";
    public const string Host = "hosts/{name}";
    /// <summary>Start-DistHost: wakes the hosts a pattern names (the body is a <see cref="WakeHostsRequest"/>).</summary>
    public const string HostsWake = "hosts/wake";
    /// <summary>Stop-DistHost: asks the hosts a pattern names to shut down (the body is a <see cref="StopHostsRequest"/>).</summary>
    public const string HostsStop = "hosts/stop";
    public const string PendingHosts = "pending-hosts";
    public const string PendingHostApprove = "pending-hosts/{name}/approve";
    public const string PendingHostDeny = "pending-hosts/{name}/deny";
    public const string HostGroups = "host-groups";
    public const string HostGroup = "host-groups/{name}";
    public const string HostGroupMembersAdd = "host-groups/{name}/members/add";
    public const string HostGroupMembersRemove = "host-groups/{name}/members/remove";
    public const string IdGroups = "id-groups";
    public const string IdGroup = "id-groups/{name}";
    public const string IdGroupMembersAdd = "id-groups/{name}/members/add";
    public const string IdGroupMembersRemove = "id-groups/{name}/members/remove";
    public const string IdGroupPolicy = "id-groups/{name}/policy";
    public const string IdGroupPolicies = "id-group-policies";
    public const string Inventory = "inventory";
    public const string Software = "software";
    public const string Managers = "managers";
    public const string SigningKeys = "signing-keys";
    public const string SigningKeyRotation = "signing-keys/rotate";
    public const string AccessKeys = "access-keys";
    public const string AccessKey = "access-keys/{name}";
    public const string AuditLog = "audit";
    public const string OfflineMedia = "offline-media";
    public const string OfflineContent = "offline-media/{id}/content/{sha256}";
    public const string OfflineResults = "offline-results";

    /// <summary>A pattern with its {placeholders} replaced by the escaped values, in order.</summary>
    public static string Fill(string pattern, params string[] values)
    {
        var result = pattern;
        foreach (var value in values)
        {
            var open = result.IndexOf('{', StringComparison.Ordinal);
            var close = result.IndexOf('}', open + 1);
            result = result[..open] + Uri.EscapeDataString(value) + result[(close + 1)..];
        }
        return result;
    }
}

/// <summary>The body of a request that names hosts (and host groups): Restart-, Suspend-, Resume-, Stop-DistJob, group members.</summary>
public sealed record AdminMembers(IReadOnlyList<string>? Hosts = null, IReadOnlyList<string>? Groups = null);

/// <summary>The body of New-DistHostGroup and New-DistIdGroup.</summary>
public sealed record AdminNewGroup(string Name, string? Description = null);

/// <summary>The body of Set-DistPackage: until when relays keep the package (null: no expiry).</summary>
public sealed record AdminPackageExpiry(DateTime? ExpiresAt);

/// <summary>The body of Export-DistOfflineMedia: the job and the host the media are for.</summary>
public sealed record AdminOfflineExport(string Job, string HostName);

/// <summary>The body of Update-DistSigningKey.</summary>
public sealed record AdminRotation(TimeSpan GracePeriod);

/// <summary>The body of Set-DistIdGroupPolicy: the rules, each a fact name with its patterns.</summary>
public sealed record AdminPolicy(IReadOnlyList<IReadOnlyDictionary<string, IReadOnlyList<string>>> Rules);

/// <summary>Who the manager takes a session's access key for (GET session): the key's name, its role and the address seen.</summary>
public sealed record AdminSession(string Principal, DistRole Role, string Source);
