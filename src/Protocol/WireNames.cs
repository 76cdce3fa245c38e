namespace JP1Dist.Protocol;

// Values that travel as names in string fields. Only the names count: a number ("3"), a list ("Failed, Succeeded") or
// a padded name is not one of them, whatever Enum.TryParse would make of it.

/// <summary>The statuses an agent (or a relay's client role) reports, by name; the order of TargetStates.Reportable.</summary>
public static class ReportStatuses
{
    public const string Transferring = "Transferring";
    public const string Transferred = "Transferred";
    public const string Installing = "Installing";
    public const string Succeeded = "Succeeded";
    public const string SucceededRebootRequired = "SucceededRebootRequired";
    public const string Failed = "Failed";
    public const string ConditionNotMet = "ConditionNotMet";
    public const string StoredOnRelay = "StoredOnRelay";
    public const string Available = "Available";

    /// <summary>Every status a report may carry.</summary>
    public static readonly IReadOnlyList<string> All = [Transferring, Transferred, Installing, Succeeded, SucceededRebootRequired, Failed, ConditionNotMet, StoredOnRelay, Available];

    /// <summary>The status's name as spelled here, when <paramref name="status"/> is one (case-insensitive); otherwise null.</summary>
    public static string? Find(string? status) => WireNames.Find(All, status);
}

/// <summary>The kinds of host a registration may name (RegisterRequest.Kind); absent or empty means Client.</summary>
public static class HostKinds
{
    public const string Client = "Client";
    public const string Relay = "Relay";

    /// <summary>Every kind a registration may name.</summary>
    public static readonly IReadOnlyList<string> All = [Client, Relay];

    /// <summary>The kind's name as spelled here, when <paramref name="kind"/> is one (case-insensitive); otherwise null.</summary>
    public static string? Find(string? kind) => WireNames.Find(All, kind);
}

internal static class WireNames
{
    public static string? Find(IReadOnlyList<string> names, string? value)
    {
        if (value is null)
        {
            return null;
        }
        foreach (var name in names)
        {
            if (string.Equals(name, value, StringComparison.OrdinalIgnoreCase))
            {
                return name;
            }
        }
        return null;
    }
}
