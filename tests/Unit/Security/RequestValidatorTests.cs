using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Protocol;
using Xunit;

namespace JP1Dist.Tests.Security;

/// <summary>
/// Every limit of <see cref="ProtocolLimits"/> at its bound (accepted) and one past it (refused, naming the field), the
/// names-only rule for statuses and kinds, relay URLs, the JSON options, and that what an agent fits passes the checks.
/// </summary>
public sealed class RequestValidatorTests
{
    private static HostInventory Inventory() => new(8, 16_384, [new VolumeFact("/", 1000, 500)], ["00-11-22-33-44-55"], [new SoftwareFact("curl", "8.0", "dpkg")]);

    private static RegisterRequest Registration() =>
        new("token", "pc-1", "Linux", "6.8", "X64", ["10.0.0.1"], "00-11-22-33-44-55", "1.0", Inventory());

    private static FactsReport Facts() => new("Linux", "6.8", "X64", ["10.0.0.1"], "00-11-22-33-44-55", "1.0", Inventory());

    private static ReportRequest Report() => new(Guid.NewGuid(), "Transferring", null, "copying", "out", 10, 1);

    private static RelayBatch Batch(RelayBatchEntry entry) => new([entry]);

    private static string Text(int length) => new('a', length);

    private static List<T> Many<T>(int count, T item) => Enumerable.Repeat(item, count).ToList();

    /// <summary>A checked request: its field path, the limit, and the check of the request made with a value of a given size.</summary>
    private sealed record Bound(string Field, long Limit, Func<long, FieldProblem?> CheckAt, long? Min = null);

    private static FieldProblem? Check(RegisterRequest r) => RequestValidator.Check(r);

    private static FieldProblem? Entry(RelayBatchEntry e) => RequestValidator.CheckEntry(e, 0);

    private static readonly Dictionary<string, Bound> Bounds = new Bound[]
    {
        // Strings, by length.
        new("token", ProtocolLimits.TokenLength, n => Check(Registration() with { Token = Text((int)n) })),
        new("name", ProtocolLimits.HostNameLength, n => Check(Registration() with { Name = Text((int)n) })),
        new("os", ProtocolLimits.OSLength, n => Check(Registration() with { OS = Text((int)n) })),
        new("osVersion", ProtocolLimits.OSVersionLength, n => Check(Registration() with { OSVersion = Text((int)n) })),
        new("architecture", ProtocolLimits.ArchitectureLength, n => Check(Registration() with { Architecture = Text((int)n) })),
        new("agentVersion", ProtocolLimits.AgentVersionLength, n => Check(Registration() with { AgentVersion = Text((int)n) })),
        new("macAddress", ProtocolLimits.MacAddressLength, n => Check(Registration() with { MacAddress = Text((int)n) })),
        new("addresses[0]", ProtocolLimits.AddressLength, n => Check(Registration() with { Addresses = [Text((int)n)] })),
        new("relayUrl", ProtocolLimits.RelayUrlLength, n => Check(Registration() with { Kind = "Relay", RelayUrl = "http://relay/" + Text((int)n - 13) })),
        new("inventory.volumes[0].name", ProtocolLimits.VolumeNameLength,
            n => Check(Registration() with { Inventory = Inventory() with { Volumes = [new VolumeFact(Text((int)n), 1, 1)] } })),
        new("inventory.macAddresses[0]", ProtocolLimits.MacAddressLength,
            n => Check(Registration() with { Inventory = Inventory() with { MacAddresses = [Text((int)n)] } })),
        new("inventory.software[0].name", ProtocolLimits.SoftwareNameLength,
            n => Check(Registration() with { Inventory = Inventory() with { Software = [new SoftwareFact(Text((int)n), "1", "dpkg")] } })),
        new("inventory.software[0].version", ProtocolLimits.SoftwareVersionLength,
            n => Check(Registration() with { Inventory = Inventory() with { Software = [new SoftwareFact("curl", Text((int)n), "dpkg")] } })),
        new("inventory.software[0].source", ProtocolLimits.SoftwareSourceLength,
            n => Check(Registration() with { Inventory = Inventory() with { Software = [new SoftwareFact("curl", "1", Text((int)n))] } })),
        new("message", ProtocolLimits.MessageLength, n => RequestValidator.Check(Report() with { Message = Text((int)n) })),
        new("outputTail", ProtocolLimits.OutputTailLength, n => RequestValidator.Check(Report() with { OutputTail = Text((int)n) })),
        new("registration.osVersion", ProtocolLimits.OSVersionLength,
            n => RequestValidator.Check(new RelayRegisterRequest(Registration() with { OSVersion = Text((int)n) }, Guid.NewGuid()))),
        new("entries[0].facts.architecture", ProtocolLimits.ArchitectureLength,
            n => Entry(new RelayBatchEntry(1, Guid.NewGuid(), Facts: Facts() with { Architecture = Text((int)n) }))),
        new("entries[0].report.message", ProtocolLimits.MessageLength,
            n => Entry(new RelayBatchEntry(1, Guid.NewGuid(), Report: Report() with { Message = Text((int)n) }))),
        new("etag", ProtocolLimits.EtagLength, n => RequestValidator.CheckEtag(Text((int)n))),

        // Lists, by count.
        new("addresses", ProtocolLimits.MaxAddresses, n => RequestValidator.Check(Facts() with { Addresses = Many((int)n, "10.0.0.1") })),
        new("inventory.macAddresses", ProtocolLimits.MaxMacAddresses,
            n => RequestValidator.Check(Facts() with { Inventory = Inventory() with { MacAddresses = Many((int)n, "00-11-22-33-44-55") } })),
        new("inventory.volumes", ProtocolLimits.MaxVolumes,
            n => RequestValidator.Check(Facts() with { Inventory = Inventory() with { Volumes = Many((int)n, new VolumeFact("/", 1, 1)) } })),
        new("inventory.software", ProtocolLimits.MaxSoftware,
            n => RequestValidator.Check(Facts() with { Inventory = Inventory() with { Software = Many((int)n, new SoftwareFact("curl", "8.0", "dpkg")) } })),
        new("entries", ProtocolLimits.MaxBatchEntries,
            n => RequestValidator.Check(new RelayBatch(Many((int)n, new RelayBatchEntry(1, Guid.NewGuid(), SeenAt: DateTime.UtcNow))))),

        // Numbers, by value (refused one below the minimum too).
        new("inventory.cpuCount", ProtocolLimits.MaxCpuCount,
            n => RequestValidator.Check(Facts() with { Inventory = Inventory() with { CpuCount = (int)n } }), Min: 0),
        new("inventory.memoryMB", ProtocolLimits.MaxMemoryMB,
            n => RequestValidator.Check(Facts() with { Inventory = Inventory() with { MemoryMB = n } }), Min: 0),
        new("inventory.volumes[0].sizeMB", ProtocolLimits.MaxVolumeMB,
            n => RequestValidator.Check(Facts() with { Inventory = Inventory() with { Volumes = [new VolumeFact("/", n, 0)] } }), Min: 0),
        new("inventory.volumes[0].freeMB", ProtocolLimits.MaxVolumeMB,
            n => RequestValidator.Check(Facts() with { Inventory = Inventory() with { Volumes = [new VolumeFact("/", 0, n)] } }), Min: 0),
        new("bytesTransferred", long.MaxValue, n => RequestValidator.Check(Report() with { BytesTransferred = n }), Min: 0),
        new("segmentsTransferred", int.MaxValue, n => RequestValidator.Check(Report() with { SegmentsTransferred = (int)n }), Min: 0),
        new("entries[0].seq", long.MaxValue, n => Entry(new RelayBatchEntry(n, Guid.NewGuid(), SeenAt: DateTime.UtcNow)), Min: 0),
        new("wait", ProtocolLimits.MaxWaitSeconds, n => RequestValidator.CheckWait(n.ToString(System.Globalization.CultureInfo.InvariantCulture), out _), Min: 0),
    }.ToDictionary(b => b.Field);

    public static TheoryData<string> Fields
    {
        get
        {
            var fields = new TheoryData<string>();
            foreach (var name in Bounds.Keys)
            {
                fields.Add(name);
            }
            return fields;
        }
    }

    [Theory]
    [MemberData(nameof(Fields))]
    public void A_field_at_its_limit_is_accepted_and_one_past_it_is_refused_by_name(string field)
    {
        var bound = Bounds[field];
        Assert.Null(bound.CheckAt(bound.Limit));
        // Past the maximum, where the type has room for it; below the minimum for numbers.
        var past = bound.Limit is long.MaxValue or int.MaxValue ? (long?)null : bound.Limit + 1;
        foreach (var value in new[] { past, bound.Min - 1 }.OfType<long>())
        {
            var problem = bound.CheckAt(value);
            Assert.NotNull(problem);
            Assert.Equal(field, problem.Field);
            Assert.Contains(field, problem.Message, StringComparison.Ordinal);
            Assert.False(string.IsNullOrEmpty(problem.Limit));
        }
        if (bound.Min is { } min)
        {
            Assert.Null(bound.CheckAt(min));
        }
    }

    [Fact]
    public void The_field_paths_are_the_names_on_the_wire()
    {
        var json = JsonSerializer.Serialize(new RelayBatch([new RelayBatchEntry(1, Guid.NewGuid(), Report: Report()),
            new RelayBatchEntry(2, Guid.NewGuid(), Facts: Facts())]), ProtocolJson.Options)
            + JsonSerializer.Serialize(new RelayRegisterRequest(Registration() with { Kind = "Relay", RelayUrl = "http://r/" }, Guid.NewGuid()), ProtocolJson.Options);
        foreach (var field in Bounds.Keys.Where(f => f is not "etag" and not "wait"))
        {
            var leaf = field.Split('.')[^1].Split('[')[0];
            Assert.Contains($"\"{leaf}\":", json, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("Transferring")]
    [InlineData("Transferred")]
    [InlineData("Installing")]
    [InlineData("Succeeded")]
    [InlineData("Failed")]
    [InlineData("ConditionNotMet")]
    [InlineData("StoredOnRelay")]
    [InlineData("failed")]
    public void A_report_status_is_accepted_by_name(string status) =>
        Assert.Null(RequestValidator.Check(Report() with { Status = status }));

    [Theory]
    [InlineData("3")]
    [InlineData("5")]
    [InlineData("-1")]
    [InlineData("Failed, Succeeded")]
    [InlineData(" Failed")]
    [InlineData("Queued")]
    [InlineData("Canceled")]
    [InlineData("")]
    [InlineData(null)]
    public void A_report_status_that_is_not_a_reportable_name_is_refused(string? status)
    {
        Assert.Equal("status", RequestValidator.Check(Report() with { Status = status! })?.Field);
        Assert.Equal("ReportStatusInvalid", Assert.Throws<DistException>(() => TargetStates.ParseReported(status)).ErrorId);
    }

    [Fact]
    public void The_wire_names_are_the_names_of_the_states_and_kinds()
    {
        Assert.Equal(ReportStatuses.All, TargetStates.Reportable.Select(s => s.ToString()));
        Assert.Equal(HostKinds.All, Enum.GetNames<HostKind>());
        Assert.False(TargetStates.TryParseName("3", out _));
        Assert.True(TargetStates.TryParseName("queued", out var queued) && queued == TargetStatus.Queued);
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("", true)]
    [InlineData("Client", true)]
    [InlineData("relay", true)]
    [InlineData("1", false)]
    [InlineData("Router", false)]
    [InlineData(" Relay", false)]
    public void A_host_kind_is_accepted_by_name_only(string? kind, bool accepted) =>
        Assert.Equal(accepted ? null : "kind", RequestValidator.Check(Registration() with { Kind = kind })?.Field);

    [Theory]
    [InlineData(null, true)]
    [InlineData("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ-_01234", true)]
    [InlineData("", false)]
    [InlineData("short", false)]
    [InlineData("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ-_0123=", false)]
    [InlineData("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ-_012345", false)]
    public void A_chosen_credential_must_be_a_secret_of_32_random_bytes(string? chosen, bool accepted) =>
        Assert.Equal(accepted ? null : "chosenCredential", RequestValidator.Check(Registration() with { ChosenCredential = chosen })?.Field);

    [Theory]
    [InlineData("http://relay-1:8080", true)]
    [InlineData("https://relay.example.com/base/", true)]
    [InlineData("http://[::1]:5000", true)]
    [InlineData("javascript:alert(1)", false)]
    [InlineData("file:///etc/passwd", false)]
    [InlineData("/relative/path", false)]
    [InlineData("relay-1:8080", false)]
    [InlineData("ftp://relay-1/", false)]
    [InlineData("http://user:secret@relay-1/", false)]
    [InlineData("http://", false)]
    [InlineData(" http://relay-1/", false)]
    [InlineData("http://relay-1/\u0007", false)]
    public void A_relay_url_must_be_an_absolute_http_url_with_a_host_and_no_user_info(string url, bool accepted)
    {
        var problem = RequestValidator.Check(Registration() with { Kind = "Relay", RelayUrl = url });
        Assert.Equal(accepted ? null : "relayUrl", problem?.Field);
        var nested = RequestValidator.Check(new RelayRegisterRequest(Registration() with { Kind = "Relay", RelayUrl = url }, Guid.NewGuid()));
        Assert.Equal(accepted ? null : "registration.relayUrl", nested?.Field);
    }

    [Theory]
    [InlineData("", true)]
    [InlineData("0", true)]
    [InlineData("25", true)]
    [InlineData("-1", false)]
    [InlineData("+5", false)]
    [InlineData(" 5", false)]
    [InlineData("1e3", false)]
    [InlineData("abc", false)]
    [InlineData("99999999999999999999", false)]
    public void The_wait_parameter_is_whole_seconds_in_range(string text, bool accepted)
    {
        Assert.Equal(accepted ? null : "wait", RequestValidator.CheckWait(text, out var seconds)?.Field);
        Assert.Equal(accepted && text.Length > 0 ? int.Parse(text, System.Globalization.CultureInfo.InvariantCulture) : 0, seconds);
    }

    [Theory]
    [InlineData("0123456789abcdef0123456789abcdef", true)]
    [InlineData("a b", false)]
    [InlineData("tag\"", false)]
    [InlineData("é", false)]
    public void An_etag_is_letters_digits_and_a_few_marks(string etag, bool accepted) =>
        Assert.Equal(accepted ? null : "etag", RequestValidator.CheckEtag(etag)?.Field);

    [Fact]
    public void Control_characters_are_refused_in_names_and_allowed_as_line_breaks_in_messages()
    {
        Assert.Equal("name", RequestValidator.Check(Registration() with { Name = "pc\u001b[31m" })?.Field);
        Assert.Equal("inventory.software[0].name", RequestValidator.Check(Facts() with
        {
            Inventory = Inventory() with { Software = [new SoftwareFact("curl\0", "1", "dpkg")] },
        })?.Field);
        Assert.Null(RequestValidator.Check(Report() with { Message = "line 1\r\n\tline 2", OutputTail = "a\nb" }));
        Assert.Equal("outputTail", RequestValidator.Check(Report() with { OutputTail = "\u001b[32mok" })?.Field);
        Assert.Equal("message", RequestValidator.Check(Report() with { Message = "\u0085" })?.Field);
    }

    [Fact]
    public void Missing_required_values_and_null_elements_are_refused_and_absent_lists_are_empty()
    {
        Assert.Equal("os", RequestValidator.Check(Facts() with { OS = null! })?.Field);
        Assert.Equal("name", RequestValidator.Check(Registration() with { Name = null! })?.Field);
        Assert.Equal("addresses[1]", RequestValidator.Check(Facts() with { Addresses = ["10.0.0.1", null!] })?.Field);
        Assert.Equal("inventory.software[0]", RequestValidator.Check(Facts() with { Inventory = Inventory() with { Software = [null!] } })?.Field);
        Assert.Equal("inventory.volumes[0].name", RequestValidator.Check(Facts() with { Inventory = Inventory() with { Volumes = [new VolumeFact(null!, 1, 1)] } })?.Field);
        Assert.Null(RequestValidator.Check(Facts() with { Addresses = null!, MacAddress = null, Inventory = null }));
        Assert.Null(RequestValidator.Check(Facts() with { Inventory = new HostInventory(0, 0, null!, null!, null!) }));
        Assert.Equal("workItemId", RequestValidator.Check(Report() with { WorkItemId = Guid.Empty })?.Field);
        Assert.Equal("registration", RequestValidator.Check(new RelayRegisterRequest(null!, Guid.NewGuid()))?.Field);
        Assert.Equal("parentHostId", RequestValidator.Check(new RelayRegisterRequest(Registration(), Guid.Empty))?.Field);
        Assert.Equal("entries", RequestValidator.Check(new RelayBatch(null!))?.Field);
        Assert.Equal("entries[1]", RequestValidator.Check(new RelayBatch([new RelayBatchEntry(1, Guid.NewGuid()), null!]))?.Field);
    }

    [Fact]
    public void A_batch_entry_names_a_host_and_carries_a_report_or_facts_not_both()
    {
        Assert.Null(Entry(new RelayBatchEntry(0, Guid.NewGuid(), SeenAt: DateTime.UtcNow)));
        Assert.Equal("entries[0].hostId", Entry(new RelayBatchEntry(1, Guid.Empty, Facts: Facts()))?.Field);
        Assert.Equal("entries[0].facts", Entry(new RelayBatchEntry(1, Guid.NewGuid(), Report: Report(), Facts: Facts()))?.Field);
        Assert.Equal("entries[7].report.status", RequestValidator.CheckEntry(new RelayBatchEntry(1, Guid.NewGuid(), Report: Report() with { Status = "3" }), 7)?.Field);
    }

    [Fact]
    public void Any_exit_code_is_accepted()
    {
        foreach (var code in new[] { int.MinValue, -1073741819, 0, 1, int.MaxValue })
        {
            Assert.Null(RequestValidator.Check(Report() with { Status = "Failed", ExitCode = code }));
        }
    }

    [Theory]
    [InlineData("""{"workItemId":"6f1c8a4e-8a85-4a4e-9f57-07a1d1c2f0a1","status":"Failed","exitCode":"1"}""")]
    [InlineData("""{"workItemId":"6f1c8a4e-8a85-4a4e-9f57-07a1d1c2f0a1","status":"Failed","bytesTransferred":"NaN"}""")]
    [InlineData("""{"workItemId":"6f1c8a4e-8a85-4a4e-9f57-07a1d1c2f0a1","status":"Failed","exitCode":4294967296}""")]
    public void The_protocol_reads_numbers_as_json_numbers_only(string json) =>
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<ReportRequest>(json, ProtocolJson.Options));

    [Fact]
    public void The_protocol_reads_enums_by_name_only()
    {
        Assert.Equal(TargetStatus.Failed, JsonSerializer.Deserialize<TargetStatus>("\"Failed\"", ProtocolJson.Options));
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<TargetStatus>("6", ProtocolJson.Options));
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<TargetStatus>("\"6\"", ProtocolJson.Options));
    }

    [Fact]
    public void What_an_agent_fits_passes_the_checks_and_keeps_what_matters()
    {
        var huge = new RegisterRequest("token", "pc-1", "Linux\u0007" + Text(1000), Text(1000), "X64", Many(5000, "10.0.0.1").Append(Text(100)).ToList(),
            Text(100), Text(1000), new HostInventory(-1, long.MaxValue, Many(2000, new VolumeFact(Text(5000), -5, long.MaxValue)),
                Many(2000, "00-11"), Many(30_000, new SoftwareFact(Text(1000), Text(1000), Text(1000)))));
        var fitted = RequestFitting.Fit(huge);
        Assert.Null(RequestValidator.Check(fitted));
        Assert.StartsWith("Linux\uFFFD", fitted.OS, StringComparison.Ordinal);
        Assert.Equal(ProtocolLimits.MaxSoftware, fitted.Inventory!.Software.Count);
        Assert.Null(fitted.MacAddress); // too long to be one: left out, not cut
        Assert.Null(RequestValidator.Check(RequestFitting.Fit(new FactsReport(huge.OS, huge.OSVersion, huge.Architecture, huge.Addresses,
            huge.MacAddress, huge.AgentVersion, huge.Inventory))));

        // An output tail keeps its end, a message its start, and neither cuts a surrogate pair in half.
        var report = RequestFitting.Fit(Report() with
        {
            Status = "Failed",
            Message = Text(ProtocolLimits.MessageLength - 1) + "😀",
            OutputTail = "😀" + Text(ProtocolLimits.OutputTailLength - 4) + "end",
            BytesTransferred = -1,
        });
        Assert.Null(RequestValidator.Check(report));
        Assert.Equal(Text(ProtocolLimits.MessageLength - 1), report.Message);
        Assert.Equal(Text(ProtocolLimits.OutputTailLength - 4) + "end", report.OutputTail);
        Assert.Equal(0, report.BytesTransferred);
        Assert.Equal("\uFFFD[1mok\r\n", RequestFitting.Fit(Report() with { OutputTail = "\u001b[1mok\r\n" }).OutputTail);

        // What already fits is left as it is.
        var plain = Registration();
        Assert.Equal(JsonSerializer.Serialize(plain, ProtocolJson.Options), JsonSerializer.Serialize(RequestFitting.Fit(plain), ProtocolJson.Options));
    }
}
