using System.Globalization;

namespace JP1Dist.Protocol;

/// <summary>What is wrong with one field of a request: its JSON path, the limit it breaks, and a sentence for a person.</summary>
/// <param name="Field">The JSON path of the field, such as <c>inventory.software[12].version</c>.</param>
/// <param name="Limit">The rule the field breaks, such as <c>at most 128 characters</c>.</param>
/// <param name="Message">A sentence naming the field, what it holds and the rule.</param>
public sealed record FieldProblem(string Field, string Limit, string Message);

/// <summary>
/// Checks every request a lower client sends against <see cref="ProtocolLimits"/>, before anything of it is used: the
/// manager and every relay call the same checks (they serve the same agent API). A refusal names the first field that
/// breaks a limit; <see cref="ErrorId"/> is the stable error id of every such refusal.
/// </summary>
public static class RequestValidator
{
    /// <summary>The error id of a request refused because a field breaks a limit.</summary>
    public const string ErrorId = "RequestFieldInvalid";

    /// <summary>A registration, directly from an agent.</summary>
    public static FieldProblem? Check(RegisterRequest request) => Registration(request, "");

    /// <summary>A registration a relay passes upward for a host below it: the nested registration and the parent.</summary>
    public static FieldProblem? Check(RelayRegisterRequest request)
    {
        if (request.Registration is null)
        {
            return Missing("registration");
        }
        return Registration(request.Registration, "registration.")
            ?? (request.ParentHostId == Guid.Empty ? Invalid("parentHostId", "a host id", "'parentHostId' is empty; it must name the host's higher system.") : null);
    }

    /// <summary>An agent's facts report.</summary>
    public static FieldProblem? Check(FactsReport facts) => Facts(facts.OS, facts.OSVersion, facts.Architecture, facts.Addresses,
        facts.MacAddress, facts.AgentVersion, facts.Inventory, "");

    /// <summary>An agent's report of progress or an outcome.</summary>
    public static FieldProblem? Check(ReportRequest report) => Report(report, "");

    /// <summary>
    /// A relay's batch as a whole: the list of entries and its size. Each entry is checked on its own with
    /// <see cref="CheckEntry"/>, so that one bad entry is answered by itself and does not hold up the others.
    /// </summary>
    public static FieldProblem? Check(RelayBatch batch)
    {
        if (batch.Entries is null)
        {
            return Missing("entries");
        }
        if (batch.Entries.Count > ProtocolLimits.MaxBatchEntries)
        {
            return TooMany("entries", batch.Entries.Count, ProtocolLimits.MaxBatchEntries);
        }
        for (var i = 0; i < batch.Entries.Count; i++)
        {
            if (batch.Entries[i] is null)
            {
                return Missing($"entries[{i}]");
            }
        }
        return null;
    }

    /// <summary>One entry of a relay's batch, at <paramref name="index"/> in it: a report, facts, or a last-seen time.</summary>
    public static FieldProblem? CheckEntry(RelayBatchEntry entry, int index)
    {
        var path = $"entries[{index}].";
        if (entry.Seq < 0)
        {
            return Invalid(path + "seq", "zero or more", $"'{path}seq' is {entry.Seq}; it must be zero or more.");
        }
        if (entry.HostId == Guid.Empty)
        {
            return Invalid(path + "hostId", "a host id", $"'{path}hostId' is empty; it must name a host below the relay.");
        }
        if (entry.Report is not null && entry.Facts is not null)
        {
            return Invalid(path + "facts", "a report or facts, not both", $"'{path}' carries a report and facts; an entry carries one of them.");
        }
        if (entry.Report is { } report)
        {
            return Report(report, path + "report.");
        }
        if (entry.Facts is { } facts)
        {
            return Facts(facts.OS, facts.OSVersion, facts.Architecture, facts.Addresses, facts.MacAddress, facts.AgentVersion, facts.Inventory, path + "facts.");
        }
        return null;
    }

    /// <summary>
    /// A relay's certificate request: a base64 signing request within <see cref="ProtocolLimits.SigningRequestLength"/>, at
    /// most <see cref="ProtocolLimits.MaxCertificateNames"/> DNS names (host names: letters, digits and hyphens in labels, no
    /// wildcard) and as many IP addresses, at least one name in all, and a host id that is not empty when given. What the
    /// signing request holds (its signature, its key) is checked where it is read (<see cref="Tls.RelayCertificates"/>).
    /// </summary>
    public static FieldProblem? Check(RelayCertificateRequest request)
    {
        if (Text(request.SigningRequest, "signingRequest", ProtocolLimits.SigningRequestLength, required: true) is { } text)
        {
            return text;
        }
        if (request.SigningRequest.Length == 0 || request.SigningRequest.Length % 4 != 0
            || !request.SigningRequest.All(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '/' or '='))
        {
            return Invalid("signingRequest", "base64 (a PKCS#10 signing request)", "'signingRequest' is not base64 text (a PKCS#10 certificate signing request in DER).");
        }
        if (request.HostId == Guid.Empty)
        {
            return Invalid("hostId", "a host id", "'hostId' is empty; it must name the relay the certificate is for, or be left out.");
        }
        return List(request.DnsNames, "dnsNames", ProtocolLimits.MaxCertificateNames, (n, p) =>
                Text(n, p, ProtocolLimits.DnsNameLength, required: true)
                ?? (IsDnsName(n) ? null : Invalid(p, "a host name (labels of letters, digits and hyphens)", $"'{p}' is '{Shorten(n)}'; it must be a host name (labels of letters, digits and hyphens, no wildcard).")))
            ?? List(request.IPAddresses, "ipAddresses", ProtocolLimits.MaxCertificateNames, (a, p) =>
                Text(a, p, ProtocolLimits.AddressLength, required: true)
                ?? (System.Net.IPAddress.TryParse(a, out _) && (a.Contains('.', StringComparison.Ordinal) || a.Contains(':', StringComparison.Ordinal)) && !a.Contains('%', StringComparison.Ordinal) ? null
                    : Invalid(p, "an IPv4 or IPv6 address", $"'{p}' is '{Shorten(a)}'; it must be an IPv4 or IPv6 address.")))
            ?? ((request.DnsNames?.Count ?? 0) + (request.IPAddresses?.Count ?? 0) == 0
                ? Invalid("dnsNames", "at least one name", "The request names no DNS name and no IP address; a certificate needs at least one.") : null);
    }

    /// <summary>Whether the text is a host name a certificate may carry: dot-separated labels of 1 to 63 letters, digits and hyphens, not starting or ending with a hyphen.</summary>
    public static bool IsDnsName(string? name) =>
        name is { Length: > 0 and <= ProtocolLimits.DnsNameLength }
        && name.TrimEnd('.').Split('.').All(label => label.Length is > 0 and <= 63 && label[0] != '-' && label[^1] != '-'
            && label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'));

    /// <summary>A long poll's <c>?wait=</c>: absent (no wait) or whole seconds from 0 to <see cref="ProtocolLimits.MaxWaitSeconds"/>.</summary>
    public static FieldProblem? CheckWait(string? text, out int seconds)
    {
        seconds = 0;
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }
        if (text.Length <= 10 && text.All(char.IsAsciiDigit)
            && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) && parsed <= ProtocolLimits.MaxWaitSeconds)
        {
            seconds = parsed;
            return null;
        }
        var limit = $"whole seconds from 0 to {ProtocolLimits.MaxWaitSeconds}";
        return new FieldProblem("wait", limit, $"'wait' is '{Shorten(text)}'; it must be {limit}.");
    }

    /// <summary>A relay's <c>?etag=</c>: absent, or up to <see cref="ProtocolLimits.EtagLength"/> letters, digits, '.', '_' and '-'.</summary>
    public static FieldProblem? CheckEtag(string? etag)
    {
        if (etag is null || (etag.Length <= ProtocolLimits.EtagLength && etag.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')))
        {
            return null;
        }
        var limit = $"at most {ProtocolLimits.EtagLength} letters, digits, '.', '_' and '-'";
        return new FieldProblem("etag", limit, $"'etag' is not a snapshot tag; it must be {limit}.");
    }

    /// <summary>
    /// A relay's URL, where its lower clients reach it: absent, or an absolute http or https URL with a host and no
    /// user info, at most <see cref="ProtocolLimits.RelayUrlLength"/> characters.
    /// </summary>
    public static FieldProblem? CheckRelayUrl(string? url, string field = "relayUrl")
    {
        if (string.IsNullOrEmpty(url))
        {
            return null;
        }
        if (Text(url, field, ProtocolLimits.RelayUrlLength, required: true) is { } problem)
        {
            return problem;
        }
        const string limit = "an absolute http or https URL with a host and no user info";
        return url.Any(char.IsWhiteSpace) || !Uri.TryCreate(url, UriKind.Absolute, out var uri)
            || uri.Scheme is not ("http" or "https") || string.IsNullOrEmpty(uri.Host) || !string.IsNullOrEmpty(uri.UserInfo)
            ? new FieldProblem(field, limit, $"'{field}' is '{Shorten(url)}'; it must be {limit}.")
            : null;
    }

    private static FieldProblem? Registration(RegisterRequest request, string path)
    {
        if (Text(request.Token, path + "token", ProtocolLimits.TokenLength, required: false) is { } problem)
        {
            return problem;
        }
        if (Text(request.Name, path + "name", ProtocolLimits.HostNameLength, required: true) is { } name)
        {
            return name;
        }
        if (Text(request.Credential, path + "credential", ProtocolLimits.CredentialLength, required: false) is { } credential)
        {
            return credential;
        }
        if (request.ChosenCredential is { } chosen && !Security.Secrets.IsWellFormed(chosen))
        {
            return Invalid(path + "chosenCredential", $"{Security.Secrets.Length} URL-safe base64 characters (32 random bytes)",
                $"'{path}chosenCredential' is not a secret: it must be {Security.Secrets.Length} URL-safe base64 characters (32 random bytes).");
        }
        if (request.SigningKeyFingerprint is { } fingerprint && !Signing.Fingerprints.IsFingerprint(fingerprint))
        {
            return Invalid(path + "signingKeyFingerprint", "64 hex digits", $"'{path}signingKeyFingerprint' is not a SHA-256 fingerprint (64 hex digits).");
        }
        if (request.HostId == Guid.Empty || (request.HostId is null) != (request.Credential is null))
        {
            return Invalid(path + "hostId", "a host id together with its credential",
                $"'{path}hostId' and '{path}credential' go together: a host that registers again sends both, a new one neither.");
        }
        if (Facts(request.OS, request.OSVersion, request.Architecture, request.Addresses, request.MacAddress, request.AgentVersion,
                request.Inventory, path) is { } facts)
        {
            return facts;
        }
        if (!string.IsNullOrEmpty(request.Kind) && HostKinds.Find(request.Kind) is null)
        {
            var limit = $"one of {string.Join(", ", HostKinds.All)}";
            return new FieldProblem(path + "kind", limit, $"'{path}kind' is '{Shorten(request.Kind)}'; it must be {limit} (by name).");
        }
        return CheckRelayUrl(request.RelayUrl, path + "relayUrl");
    }

    private static FieldProblem? Facts(string? os, string? osVersion, string? architecture, IReadOnlyList<string>? addresses,
        string? macAddress, string? agentVersion, HostInventory? inventory, string path) =>
        Text(os, path + "os", ProtocolLimits.OSLength, required: true)
        ?? Text(osVersion, path + "osVersion", ProtocolLimits.OSVersionLength, required: true)
        ?? Text(architecture, path + "architecture", ProtocolLimits.ArchitectureLength, required: true)
        ?? List(addresses, path + "addresses", ProtocolLimits.MaxAddresses, (a, p) => Text(a, p, ProtocolLimits.AddressLength, required: true))
        ?? Text(macAddress, path + "macAddress", ProtocolLimits.MacAddressLength, required: false)
        ?? Text(agentVersion, path + "agentVersion", ProtocolLimits.AgentVersionLength, required: true)
        ?? (inventory is null ? null : Inventory(inventory, path + "inventory."));

    private static FieldProblem? Inventory(HostInventory inventory, string path) =>
        Range(inventory.CpuCount, path + "cpuCount", 0, ProtocolLimits.MaxCpuCount)
        ?? Range(inventory.MemoryMB, path + "memoryMB", 0, ProtocolLimits.MaxMemoryMB)
        ?? List(inventory.Volumes, path + "volumes", ProtocolLimits.MaxVolumes, (v, p) =>
            Text(v.Name, p + ".name", ProtocolLimits.VolumeNameLength, required: true)
            ?? Range(v.SizeMB, p + ".sizeMB", 0, ProtocolLimits.MaxVolumeMB)
            ?? Range(v.FreeMB, p + ".freeMB", 0, ProtocolLimits.MaxVolumeMB))
        ?? List(inventory.MacAddresses, path + "macAddresses", ProtocolLimits.MaxMacAddresses, (m, p) => Text(m, p, ProtocolLimits.MacAddressLength, required: true))
        ?? List(inventory.Software, path + "software", ProtocolLimits.MaxSoftware, (s, p) =>
            Text(s.Name, p + ".name", ProtocolLimits.SoftwareNameLength, required: true)
            ?? Text(s.Version, p + ".version", ProtocolLimits.SoftwareVersionLength, required: false)
            ?? Text(s.Source, p + ".source", ProtocolLimits.SoftwareSourceLength, required: false));

    private static FieldProblem? Report(ReportRequest report, string path)
    {
        if (report.WorkItemId == Guid.Empty)
        {
            return Invalid(path + "workItemId", "a work item id", $"'{path}workItemId' is empty; it must name the work item reported on.");
        }
        if (ReportStatuses.Find(report.Status) is null && !Power.PowerReports.Is(report.Status))
        {
            var limit = $"one of {string.Join(", ", ReportStatuses.All)}, or of {string.Join(", ", Power.PowerReports.All)}";
            return report.Status is null ? Missing(path + "status")
                : new FieldProblem(path + "status", limit, $"'{path}status' is '{Shorten(report.Status)}'; it must be {limit} (by name).");
        }
        return Text(report.Message, path + "message", ProtocolLimits.MessageLength, required: false, multiline: true)
            ?? Text(report.OutputTail, path + "outputTail", ProtocolLimits.OutputTailLength, required: false, multiline: true)
            ?? Range(report.BytesTransferred, path + "bytesTransferred", 0, long.MaxValue)
            ?? Range(report.SegmentsTransferred, path + "segmentsTransferred", 0, int.MaxValue);
    }

    /// <summary>
    /// A string within its length, without control characters (which would reach consoles and logs as they are); a
    /// multi-line text may hold tabs and line breaks.
    /// </summary>
    private static FieldProblem? Text(string? value, string field, int max, bool required, bool multiline = false)
    {
        if (value is null)
        {
            return required ? Missing(field) : null;
        }
        if (value.Length > max)
        {
            var limit = $"at most {max} characters";
            return new FieldProblem(field, limit, $"'{field}' has {value.Length} characters; it may have {limit}.");
        }
        foreach (var c in value)
        {
            if (char.IsControl(c) && !(multiline && c is '\t' or '\n' or '\r'))
            {
                var limit = multiline ? "no control characters but tab and line breaks" : "no control characters";
                return new FieldProblem(field, limit, $"'{field}' contains the control character U+{(int)c:X4}; it may contain {limit}.");
            }
        }
        return null;
    }

    /// <summary>A list within its size, every element present and valid; an absent list is an empty one.</summary>
    private static FieldProblem? List<T>(IReadOnlyList<T>? list, string field, int max, Func<T, string, FieldProblem?> element) where T : class
    {
        if (list is null)
        {
            return null;
        }
        if (list.Count > max)
        {
            return TooMany(field, list.Count, max);
        }
        for (var i = 0; i < list.Count; i++)
        {
            var path = $"{field}[{i}]";
            if (list[i] is not { } item)
            {
                return Missing(path);
            }
            if (element(item, path) is { } problem)
            {
                return problem;
            }
        }
        return null;
    }

    private static FieldProblem? Range(long value, string field, long min, long max)
    {
        if (value >= min && value <= max)
        {
            return null;
        }
        var limit = max == long.MaxValue || max == int.MaxValue ? $"{min} or more" : $"from {min} to {max}";
        return new FieldProblem(field, limit, $"'{field}' is {value}; it must be {limit}.");
    }

    private static FieldProblem TooMany(string field, int count, int max)
    {
        var limit = $"at most {max} entries";
        return new FieldProblem(field, limit, $"'{field}' has {count} entries; it may have {limit}.");
    }

    private static FieldProblem Missing(string field) => new(field, "present", $"'{field}' is missing or null.");

    private static FieldProblem Invalid(string field, string limit, string message) => new(field, limit, message);

    /// <summary>A refused value as it is quoted in a message: short, and without characters that would break a log line.</summary>
    private static string Shorten(string value)
    {
        // Surrogates too: half a pair cannot be written as JSON.
        var shown = new string(value.Take(40).Select(c => char.IsControl(c) || char.IsSurrogate(c) ? '?' : c).ToArray());
        return value.Length > 40 ? shown + "…" : shown;
    }
}
