namespace JP1Dist.Protocol;

/// <summary>
/// What a sender does so that its own facts and reports pass <see cref="RequestValidator"/>: texts are cut to their
/// limits (an output tail keeps its end), control characters are replaced, lists are cut, numbers are held in range.
/// An agent on an unusual host then registers and reports with a little less detail instead of being refused again and
/// again. Tokens, names, kinds, URLs and statuses are left as they are: cutting them would change what they say.
/// </summary>
public static class RequestFitting
{
    private const char Replacement = '\uFFFD';

    /// <summary>A registration whose facts fit the limits.</summary>
    public static RegisterRequest Fit(RegisterRequest request)
    {
        var facts = Fit(new FactsReport(request.OS, request.OSVersion, request.Architecture, request.Addresses, request.MacAddress,
            request.AgentVersion, request.Inventory));
        return request with
        {
            OS = facts.OS, OSVersion = facts.OSVersion, Architecture = facts.Architecture, Addresses = facts.Addresses,
            MacAddress = facts.MacAddress, AgentVersion = facts.AgentVersion, Inventory = facts.Inventory,
        };
    }

    /// <summary>Facts that fit the limits; addresses too long to be addresses are left out.</summary>
    public static FactsReport Fit(FactsReport facts) => new(
        Line(facts.OS, ProtocolLimits.OSLength) ?? "",
        Line(facts.OSVersion, ProtocolLimits.OSVersionLength) ?? "",
        Line(facts.Architecture, ProtocolLimits.ArchitectureLength) ?? "",
        Addresses(facts.Addresses, ProtocolLimits.MaxAddresses, ProtocolLimits.AddressLength),
        facts.MacAddress is { Length: <= ProtocolLimits.MacAddressLength } mac ? Line(mac, ProtocolLimits.MacAddressLength) : null,
        Line(facts.AgentVersion, ProtocolLimits.AgentVersionLength) ?? "",
        facts.Inventory is { } inventory ? Fit(inventory) : null);

    /// <summary>A report whose message and output tail fit the limits (the tail keeps its end) and whose counters are not negative.</summary>
    public static ReportRequest Fit(ReportRequest report) => report with
    {
        Message = Text(report.Message, ProtocolLimits.MessageLength, multiline: true, keepEnd: false),
        OutputTail = Text(report.OutputTail, ProtocolLimits.OutputTailLength, multiline: true, keepEnd: true),
        BytesTransferred = Math.Max(0, report.BytesTransferred),
        SegmentsTransferred = Math.Max(0, report.SegmentsTransferred),
    };

    private static HostInventory Fit(HostInventory inventory) => new(
        Math.Clamp(inventory.CpuCount, 0, ProtocolLimits.MaxCpuCount),
        Math.Clamp(inventory.MemoryMB, 0, ProtocolLimits.MaxMemoryMB),
        (inventory.Volumes ?? []).OfType<VolumeFact>().Take(ProtocolLimits.MaxVolumes).Select(v => new VolumeFact(
            Line(v.Name, ProtocolLimits.VolumeNameLength) ?? "",
            Math.Clamp(v.SizeMB, 0, ProtocolLimits.MaxVolumeMB),
            Math.Clamp(v.FreeMB, 0, ProtocolLimits.MaxVolumeMB))).ToList(),
        Addresses(inventory.MacAddresses, ProtocolLimits.MaxMacAddresses, ProtocolLimits.MacAddressLength),
        (inventory.Software ?? []).OfType<SoftwareFact>().Where(s => s.Name is not null).Take(ProtocolLimits.MaxSoftware).Select(s => new SoftwareFact(
            Line(s.Name, ProtocolLimits.SoftwareNameLength)!,
            Line(s.Version, ProtocolLimits.SoftwareVersionLength)!,
            Line(s.Source, ProtocolLimits.SoftwareSourceLength)!)).ToList());

    /// <summary>Addresses of either kind: one longer than its limit is not an address, and is left out rather than cut.</summary>
    private static List<string> Addresses(IReadOnlyList<string>? addresses, int max, int length) =>
        (addresses ?? []).Where(a => a is not null && a.Length <= length).Take(max).Select(a => Line(a, length)!).ToList();

    private static string? Line(string? value, int max) => Text(value, max, multiline: false, keepEnd: false);

    private static string? Text(string? value, int max, bool multiline, bool keepEnd)
    {
        if (value is null || (value.Length <= max && !value.Any(c => Refused(c, multiline))))
        {
            return value;
        }
        var text = string.Create(value.Length, (value, multiline), static (span, state) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = Refused(state.value[i], state.multiline) ? Replacement : state.value[i];
            }
        });
        if (text.Length <= max)
        {
            return text;
        }
        // Cut between the halves of a surrogate pair, the text could not be written as JSON.
        if (keepEnd)
        {
            var start = text.Length - max;
            return text[(char.IsLowSurrogate(text[start]) ? start + 1 : start)..];
        }
        return text[..(char.IsHighSurrogate(text[max - 1]) ? max - 1 : max)];
    }

    private static bool Refused(char c, bool multiline) => char.IsControl(c) && !(multiline && c is '\t' or '\n' or '\r');
}
