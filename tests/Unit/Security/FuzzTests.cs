using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Tls;
using Microsoft.EntityFrameworkCore;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Security;

/// <summary>
/// A real <c>jp1dist manager</c> on 127.0.0.1 takes a few thousand deterministic mutations (fixed seed) of every request
/// of the agent API: huge strings and arrays, wrong JSON types, numbers as strings, nulls, deep nesting, invalid UTF-8,
/// truncated JSON, unknown enum names, negative and overflowing numbers, control characters, mangled query strings.
/// None is answered with a 5xx or left hanging, the manager lives on and still answers, and the database holds nothing
/// of a refused request: the hosts are those registered by accepted requests, each host's facts are its first or
/// those of an accepted request, the enrollment token counts only accepted registrations, and no string or list past
/// a limit was stored.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output) : IDisposable
{
    private const int Seed = 20261128;
    private const int Concurrency = 4;
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(20);

    /// <summary>Requests per kind: 5,000 in all, which a 2-core machine shared with other work sends in about 15 s.</summary>
    private static readonly (string Kind, int Count)[] Plan =
    [
        ("register", 900), ("facts", 900), ("report", 800), ("relay/register", 600), ("relay/batch", 700), ("work", 400), ("relay/work", 400),
        ("relay/certificate", 300),
    ];

    private readonly string _root = Path.Combine(Path.GetTempPath(), "jp1dist-fuzz-" + Guid.NewGuid().ToString("N")[..8]);

    private sealed record Outcome(string Kind, string Mutation, int Status, string Body, byte[] Sent, TimeSpan Elapsed);

    [Fact]
    public async Task Mutated_requests_get_no_5xx_and_no_hang_and_refused_ones_store_nothing()
    {
        var exe = Path.Combine(Repository.Root, "out", "jp1dist", OperatingSystem.IsWindows() ? "jp1dist.exe" : "jp1dist");
        Assert.True(File.Exists(exe), $"{exe} is built with the solution; build it first.");
        var home = Path.Combine(_root, "home");
        var engine = TestDatabase.Engine(home);
        var token = await engine.Hosts.NewEnrollmentTokenAsync("fuzz");
        var relayToken = await engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("fuzz relays", Relay: true));

        using var manager = Process.Start(new ProcessStartInfo(exe, ["manager", "--listen", "http://127.0.0.1:0", "--home", home])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        })!;
        var logs = Task.WhenAll(manager.StandardOutput.ReadToEndAsync(), manager.StandardError.ReadToEndAsync());
        try
        {
            var url = await Eventually.ForAsync(async () => (await engine.Managers.ListAsync()).FirstOrDefault(m => m.ProcessId == manager.Id && m.IsAlive)?.Url, "the manager announced itself");
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Concurrency * 2 }) { BaseAddress = new Uri(url), Timeout = Timeout.InfiniteTimeSpan };

            // A client, a relay and a host below the relay, registered as agents and relays do.
            var clientFacts = Facts("10.1.0.1");
            var client = await RegisterAsync(http, Registration(token.Token!, "fuzz-client", clientFacts));
            var relay = await RegisterAsync(http, Registration(relayToken.Token!, "fuzz-relay", Facts("10.2.0.1")) with { Kind = "Relay", RelayUrl = "http://127.0.0.1:1/" });
            var belowFacts = Facts("10.3.0.1");
            var below = await SendJsonAsync<RegisterResponse>(http, HttpMethod.Post, ApiPaths.RelayRegister, relay,
                new RelayRegisterRequest(Registration(token.Token!, "fuzz-below", belowFacts), relay.HostId));

            using var relayKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var random = new Random(Seed);
            var mutator = new Mutator(random);
            var requests = new List<(string Kind, string Mutation, HttpMethod Method, string Path, byte[]? Body, RegisterResponse? As)>();
            foreach (var (kind, count) in Plan)
            {
                for (var i = 0; i < count; i++)
                {
                    requests.Add(kind switch
                    {
                        "register" => Post(kind, ApiPaths.Register, null, mutator.Mutate(JsonSerializer.SerializeToNode(
                            Registration(token.Token!, "fuzz-reg", Facts("10.9.0.1")) with { Kind = i % 3 == 0 ? "Relay" : null, RelayUrl = i % 3 == 0 ? "http://relay.example:8080/" : null },
                            ProtocolJson.Options)!)),
                        "facts" => Post(kind, ApiPaths.Facts, client, mutator.Mutate(JsonSerializer.SerializeToNode(Facts("10.1.0.2"), ProtocolJson.Options)!)),
                        "report" => Post(kind, ApiPaths.Report, client, mutator.Mutate(JsonSerializer.SerializeToNode(
                            new ReportRequest(Guid.NewGuid(), "Transferring", 0, "copying", "line 1\nline 2", 4096, 1), ProtocolJson.Options)!)),
                        "relay/register" => Post(kind, ApiPaths.RelayRegister, relay, mutator.Mutate(JsonSerializer.SerializeToNode(
                            new RelayRegisterRequest(Registration(token.Token!, "fuzz-relayreg", Facts("10.4.0.1")), relay.HostId), ProtocolJson.Options)!)),
                        "relay/batch" => Post(kind, ApiPaths.RelayBatch, relay, mutator.Mutate(JsonSerializer.SerializeToNode(new RelayBatch(
                        [
                            new RelayBatchEntry(1, below.HostId, Facts: Facts("10.3.0.2")),
                            new RelayBatchEntry(2, below.HostId, Report: new ReportRequest(Guid.NewGuid(), "Failed", -1073741819, "crashed", "tail")),
                            new RelayBatchEntry(3, below.HostId, SeenAt: DateTime.UtcNow),
                            new RelayBatchEntry(4, client.HostId, Facts: Facts("10.1.0.3")),
                        ]), ProtocolJson.Options)!)),
                        "relay/certificate" => Post(kind, ApiPaths.RelayCertificate, relay, mutator.Mutate(JsonSerializer.SerializeToNode(
                            RelayCertificates.Request(relayKey, "fuzz-relay", ["fuzz-relay.example", "localhost"], [IPAddress.Loopback, IPAddress.IPv6Loopback]),
                            ProtocolJson.Options)!)),
                        "work" => (kind, "query", HttpMethod.Get, ApiPaths.Work + "?" + mutator.Query(withEtag: false), null, client),
                        _ => (kind, "query", HttpMethod.Get, ApiPaths.RelayWork + "?" + mutator.Query(withEtag: true), null, relay),
                    });
                }
            }
            // Interleaved, in an order fixed by the seed, so that accepted and refused requests of every kind overlap.
            requests = requests.OrderBy(_ => random.Next()).ToList();

            var outcomes = new ConcurrentBag<Outcome>();
            var started = Stopwatch.StartNew();
            await Parallel.ForEachAsync(requests, new ParallelOptions { MaxDegreeOfParallelism = Concurrency }, async (r, _) =>
            {
                var watch = Stopwatch.StartNew();
                using var timeout = new CancellationTokenSource(RequestTimeout);
                using var request = new HttpRequestMessage(r.Method, r.Path);
                if (r.As is { } host)
                {
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", $"{host.HostId}.{host.Credential}");
                }
                if (r.Body is { } body)
                {
                    request.Content = new ByteArrayContent(body);
                    request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                }
                try
                {
                    using var response = await http.SendAsync(request, timeout.Token);
                    var text = await response.Content.ReadAsStringAsync(timeout.Token);
                    outcomes.Add(new Outcome(r.Kind, r.Mutation, (int)response.StatusCode, text, r.Body ?? [], watch.Elapsed));
                }
                catch (HttpRequestException e) when (r.Body is { } sent && sent.Length > BodyCapOf(r.Kind))
                {
                    // A body over the endpoint's cap is refused with 413 before it is read, and the server closes the
                    // connection: a client still sending may see only the close. A refusal, not a crash (the server goes on).
                    outcomes.Add(new Outcome(r.Kind, r.Mutation, 413, e.Message, sent, watch.Elapsed));
                }
                catch (Exception e) when (e is OperationCanceledException or HttpRequestException)
                {
                    // -1: no answer in time (a hang), -2: no answer at all.
                    outcomes.Add(new Outcome(r.Kind, r.Mutation, e is OperationCanceledException ? -1 : -2, e.Message, r.Body ?? [], watch.Elapsed));
                }
            });
            output.WriteLine($"{outcomes.Count} requests in {started.Elapsed.TotalSeconds:F1} s; slowest {outcomes.Max(o => o.Elapsed).TotalMilliseconds:F0} ms");
            foreach (var group in outcomes.GroupBy(o => (o.Kind, o.Status)).OrderBy(g => g.Key))
            {
                output.WriteLine($"  {group.Key.Kind,-15} {group.Key.Status}: {group.Count()}");
            }

            var failures = outcomes.Where(o => o.Status is >= 500 or < 0).ToList();
            Assert.True(failures.Count == 0, $"{failures.Count} requests got a 5xx or no answer, for example: "
                + string.Join(" | ", failures.Take(3).Select(f => $"{f.Kind} {f.Mutation} -> {f.Status} {Shorten(f.Body)} (sent {Shorten(Encoding.UTF8.GetString(f.Sent))})")));
            var refusals = outcomes.Where(o => o.Status == 400).Select(o => JsonDocument.Parse(o.Body).RootElement).ToList();
            Assert.All(refusals, r => Assert.True(r.TryGetProperty("errorId", out _)));
            Assert.Contains(refusals, r => r.GetProperty("errorId").GetString() == RequestValidator.ErrorId && r.TryGetProperty("field", out _));

            // The manager lives on and answers.
            Assert.False(manager.HasExited);
            using (var ping = new CancellationTokenSource(RequestTimeout))
            {
                Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(ApiPaths.Ping, ping.Token)).StatusCode);
            }

            await AssertNothingRefusedStoredAsync(engine, outcomes, clientFacts, belowFacts, below.HostId);
        }
        finally
        {
            if (!manager.HasExited)
            {
                manager.Kill(entireProcessTree: true);
            }
            using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await manager.WaitForExitAsync(exit.Token);
            output.WriteLine(Shorten((await logs)[1], 4000));
        }
    }

    /// <summary>The database after the run, read as Get-DistHost and Get-DistInventory read it.</summary>
    private async Task AssertNothingRefusedStoredAsync(DistEngine engine, IReadOnlyCollection<Outcome> outcomes, FactsReport clientFacts,
        FactsReport belowFacts, Guid belowId)
    {
        T? Read<T>(Outcome o) where T : class => JsonSerializer.Deserialize<T>(o.Sent, ProtocolJson.Options);
        var accepted = outcomes.Where(o => o.Status is >= 200 and < 300).ToList();

        // Hosts: the three set up, and those named by accepted registrations.
        var registrations = accepted.Where(o => o.Kind == "register").Select(o => Read<RegisterRequest>(o)!)
            .Concat(accepted.Where(o => o.Kind == "relay/register").Select(o => Read<RelayRegisterRequest>(o)!.Registration)).ToList();
        var expected = new[] { "fuzz-client", "fuzz-relay", "fuzz-below" }.Concat(registrations.Select(r => r.Name)).Select(Names.Key).ToHashSet();
        var hosts = await engine.Hosts.ListAsync();
        Assert.Equal(expected.Order(), hosts.Select(h => Names.Key(h.Name)).Order());
        output.WriteLine($"{registrations.Count} registrations accepted; hosts: {string.Join(", ", hosts.Select(h => h.Name))}");

        await using (var db = engine.Database.CreateContext())
        {
            // Each accepted registration counted the token's use once; a refused one never reached it.
            // The client token admitted the client, the host below the relay and every accepted registration (a relay
            // token is needed for a relay, so mutated relay registrations with the client token are refused).
            Assert.Equal(2 + registrations.Count, await db.EnrollmentTokens.Where(t => !t.ForRelays).Select(t => t.UseCount).SingleAsync());
            Assert.Equal(1, await db.EnrollmentTokens.Where(t => t.ForRelays).Select(t => t.UseCount).SingleAsync());
            Assert.Equal(0, await db.Targets.CountAsync());
        }

        // Facts: each host's are its first or those of an accepted request for it (in whatever order they ran).
        var clientAccepted = accepted.Where(o => o.Kind == "facts").Select(o => Read<FactsReport>(o)!).ToList();
        var belowAccepted = new List<FactsReport>();
        foreach (var batch in accepted.Where(o => o.Kind == "relay/batch"))
        {
            var sent = Read<RelayBatch>(batch)!;
            var answer = JsonSerializer.Deserialize<RelayBatchResponse>(batch.Body, ProtocolJson.Options)!;
            belowAccepted.AddRange(sent.Entries.Zip(answer.Results)
                .Where(p => p.Second.ErrorId is null && p.First.HostId == belowId && p.First.Facts is not null).Select(p => p.First.Facts!));
        }
        output.WriteLine($"facts accepted: {clientAccepted.Count} for the client, {belowAccepted.Count} for the host below the relay");
        var inventory = await engine.Inventory.ListAsync();
        AssertFactsFrom(inventory.Single(i => i.HostName == "fuzz-client"), [clientFacts, .. clientAccepted]);
        AssertFactsFrom(inventory.Single(i => i.HostName == "fuzz-below"), [belowFacts, .. belowAccepted]);

        // Nothing past a limit was stored, whoever sent it.
        foreach (var host in inventory)
        {
            Assert.True(host.OS.Length <= ProtocolLimits.OSLength && host.OSVersion.Length <= ProtocolLimits.OSVersionLength
                && host.Architecture.Length <= ProtocolLimits.ArchitectureLength, host.HostName);
            Assert.True(host.Addresses.Count <= ProtocolLimits.MaxAddresses && host.MacAddresses.Count <= ProtocolLimits.MaxMacAddresses
                && host.Volumes.Count <= ProtocolLimits.MaxVolumes && host.Software.Count <= ProtocolLimits.MaxSoftware, host.HostName);
            Assert.All(host.Software, s => Assert.True(s.Name.Length <= ProtocolLimits.SoftwareNameLength && s.Version.Length <= ProtocolLimits.SoftwareVersionLength));
            Assert.InRange(host.CpuCount, 0, ProtocolLimits.MaxCpuCount);
            Assert.InRange(host.MemoryMB, 0, ProtocolLimits.MaxMemoryMB);
        }
    }

    private static void AssertFactsFrom(DistInventory stored, IReadOnlyList<FactsReport> candidates)
    {
        static string Basic(string os, string version, string architecture, IEnumerable<string> addresses) =>
            $"{os}|{version}|{architecture}|{string.Join(",", addresses)}";
        Assert.Contains(Basic(stored.OS, stored.OSVersion, stored.Architecture, stored.Addresses),
            candidates.Select(c => Basic(c.OS, c.OSVersion, c.Architecture, c.Addresses ?? [])).ToHashSet());
        Assert.Contains((stored.CpuCount, stored.MemoryMB),
            candidates.Where(c => c.Inventory is not null).Select(c => (c.Inventory!.CpuCount, c.Inventory.MemoryMB)).ToHashSet());
    }

    private static (string, string, HttpMethod, string, byte[]?, RegisterResponse?) Post(string kind, string path, RegisterResponse? host,
        (string Mutation, byte[] Body) mutated) => (kind, mutated.Mutation, HttpMethod.Post, path, mutated.Body, host);

    /// <summary>The body cap of each endpoint the fuzz sends bodies to (AgentApi).</summary>
    private static long BodyCapOf(string kind) => kind switch
    {
        "report" => ProtocolLimits.MaxReportBodyBytes,
        "relay/certificate" => ProtocolLimits.MaxCertificateRequestBodyBytes,
        _ => ProtocolLimits.MaxBodyBytes,
    };

    private static FactsReport Facts(string address) => new("Linux", "6.8.0", "X64", [address, "fe80::1%eth0"], "00-11-22-33-44-55", "1.0.0",
        new HostInventory(8, 16_384, [new VolumeFact("/", 100_000, 50_000), new VolumeFact("/boot", 1024, 512)], ["00-11-22-33-44-55", "00-11-22-33-44-56"],
            Enumerable.Range(0, 30).Select(i => new SoftwareFact($"package-{i}", $"1.{i}.0-1ubuntu1", "dpkg")).ToList()));

    private static RegisterRequest Registration(string token, string name, FactsReport facts) =>
        new(token, name, facts.OS, facts.OSVersion, facts.Architecture, facts.Addresses, facts.MacAddress, facts.AgentVersion, facts.Inventory);

    private static async Task<RegisterResponse> RegisterAsync(HttpClient http, RegisterRequest request) =>
        await SendJsonAsync<RegisterResponse>(http, HttpMethod.Post, ApiPaths.Register, null, request);

    private static async Task<T> SendJsonAsync<T>(HttpClient http, HttpMethod method, string path, RegisterResponse? host, object body)
    {
        using var timeout = new CancellationTokenSource(RequestTimeout);
        using var request = new HttpRequestMessage(method, path) { Content = System.Net.Http.Json.JsonContent.Create(body, body.GetType(), options: ProtocolJson.Options) };
        if (host is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", $"{host.HostId}.{host.Credential}");
        }
        using var response = await http.SendAsync(request, timeout.Token);
        var text = await response.Content.ReadAsStringAsync(timeout.Token);
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {text}");
        return JsonSerializer.Deserialize<T>(text, ProtocolJson.Options)!;
    }

    private static string Shorten(string text, int max = 300) => text.Length <= max ? text : text[..max] + "…";

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Deterministic mutations of a valid request, one to three at a time, each named for the report of a failure.</summary>
    private sealed class Mutator(Random random)
    {
        private const string Marker = "\u0001MARK\u0001";

        private static readonly string[] EnumNames =
            ["3", "5", "-1", "0x3", "Exploded", "Failed, Succeeded", " Failed", "Failed ", "FAILED", "Queued", "Canceled", "Relay2", "", "null", "Rela\u0000y"];

        private static readonly string[] RawNumbers =
            ["-1", "-9223372036854775808", "9223372036854775808", "18446744073709551616", "1e400", "-1e400", "2147483648", "-2147483649",
             "0.5", "1e-400", "-0", "00", "1E5", "NaN", "Infinity"];

        private static readonly string[] ControlCharacters = ["\u0000", "\u0007", "\u001b[31m", "\u007f", "\u0085", "\r", "\u2028", "\uFFFE"];

        private static readonly byte[][] InvalidUtf8 = [[0xC3, 0x28], [0xFF], [0xED, 0xA0, 0x80], [0xC0, 0xAF], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xE2, 0x82]];

        public (string Mutation, byte[] Body) Mutate(JsonNode document)
        {
            var names = new List<string>();
            string? raw = null;
            byte[]? bytes = null;
            var count = random.Next(10) < 7 ? 1 : random.Next(2, 4);
            // A mutation that writes text (raw) or bytes is the last one of its request.
            for (var i = 0; i < count && bytes is null && raw is null; i++)
            {
                var slots = Slots(document);
                if (slots.Count == 0)
                {
                    names.Add("empty");
                    break;
                }
                var (parent, key, value) = slots[random.Next(slots.Count)];
                var op = random.Next(17);
                switch (op)
                {
                    case 0:
                        var size = new[] { 300, 5_000, 70_000, 1 << 20 }[random.Next(4)];
                        Set(parent, key, new string((char)('a' + random.Next(26)), size));
                        names.Add($"huge string {size} at {key}");
                        break;
                    case 1:
                        var element = value is JsonArray { Count: > 0 } array ? array[0]?.ToJsonString() ?? "null" : "\"10.0.0.1\"";
                        // Past every list limit, but at most about 4 MB of JSON (a batch entry is 2 KB).
                        var length = Math.Min(new[] { 1_025, 20_001, 60_000 }[random.Next(3)], Math.Max(1_025, 4_000_000 / element.Length));
                        raw = Placeholder(parent, key, "[" + string.Join(",", Enumerable.Repeat(element, length)) + "]");
                        names.Add($"huge array {length} at {key}");
                        break;
                    case 2:
                        JsonNode?[] wrong = [JsonValue.Create(42), JsonValue.Create(true), new JsonObject(), new JsonArray(), JsonValue.Create("text"), JsonValue.Create(1.5)];
                        Set(parent, key, wrong[random.Next(wrong.Length)]);
                        names.Add($"wrong type at {key}");
                        break;
                    case 3:
                        Set(parent, key, value is JsonValue v && v.TryGetValue<long>(out var number) ? JsonValue.Create(number.ToString(System.Globalization.CultureInfo.InvariantCulture))
                            : JsonValue.Create(new[] { "3", "-1", "1e3", "08" }[random.Next(4)]));
                        names.Add($"number as string at {key}");
                        break;
                    case 4:
                        Set(parent, key, (JsonNode?)null);
                        names.Add($"null at {key}");
                        break;
                    case 5:
                        var depth = new[] { 65, 500, 5_000 }[random.Next(3)];
                        raw = Placeholder(parent, key, new string('[', depth) + new string(']', depth));
                        names.Add($"nesting {depth} at {key}");
                        break;
                    case 6:
                        Set(parent, key, Marker);
                        var invalid = InvalidUtf8[random.Next(InvalidUtf8.Length)];
                        bytes = Replace(Encoding.UTF8.GetBytes(document.ToJsonString()), Encoding.UTF8.GetBytes(JsonSerializer.Serialize(Marker)),
                            [(byte)'"', (byte)'a', .. invalid, (byte)'"']);
                        names.Add($"invalid UTF-8 at {key}");
                        break;
                    case 7:
                        var text = Encoding.UTF8.GetBytes(document.ToJsonString());
                        bytes = text[..random.Next(text.Length)];
                        names.Add($"truncated at {bytes.Length}");
                        break;
                    case 8:
                        var target = Find(document, "status") ?? Find(document, "kind") ?? (parent, key, value);
                        Set(target.Parent, target.Key, EnumNames[random.Next(EnumNames.Length)]);
                        names.Add($"enum name at {target.Key}");
                        break;
                    case 9:
                        raw = Placeholder(parent, key, RawNumbers[random.Next(RawNumbers.Length)]);
                        names.Add($"number edge at {key}");
                        break;
                    case 10:
                        var strings = Slots(document).Where(s => s.Value is JsonValue sv && sv.TryGetValue<string>(out _)).ToList();
                        var (sp, sk, svalue) = strings.Count > 0 ? strings[random.Next(strings.Count)] : (parent, key, value);
                        var original = svalue is JsonValue ov && ov.TryGetValue<string>(out var s) ? s : "x";
                        Set(sp, sk, original.Insert(random.Next(original.Length + 1), ControlCharacters[random.Next(ControlCharacters.Length)]));
                        names.Add($"control character at {sk}");
                        break;
                    case 11:
                        if (parent is JsonObject o && key is string k)
                        {
                            o.Remove(k);
                        }
                        names.Add($"removed {key}");
                        break;
                    case 12:
                        if (parent is JsonObject extra)
                        {
                            extra["unknown" + random.Next(1000)] = new string('z', random.Next(10_000));
                        }
                        names.Add("unknown property");
                        break;
                    case 13:
                        bytes = new byte[random.Next(1, 4096)];
                        random.NextBytes(bytes);
                        names.Add("random bytes");
                        break;
                    case 14:
                        var json = document.ToJsonString();
                        bytes = Encoding.UTF8.GetBytes(json.Length > 1 && json[0] == '{'
                            ? "{\"name\":\"dup\",\"NAME\":\"Dup\",\"status\":3,\"kind\":1," + json[1..] : json);
                        names.Add("duplicate and recased properties");
                        break;
                    case 15:
                        string[] roots = ["null", "[]", "42", "\"text\"", "true", "{}", "", " ", "[{}]"];
                        bytes = Encoding.UTF8.GetBytes(roots[random.Next(roots.Length)]);
                        names.Add($"root '{Encoding.UTF8.GetString(bytes)}'");
                        break;
                    default:
                        names.Add("unchanged");
                        break;
                }
            }
            bytes ??= Encoding.UTF8.GetBytes(raw ?? document.ToJsonString());
            return (string.Join("; ", names), bytes);

            // A value JsonNode cannot hold (raw numbers, deep nesting, large arrays written once): a marker, replaced in the text.
            string Placeholder(JsonNode? parent, object key, string text)
            {
                Set(parent, key, Marker);
                return document.ToJsonString().Replace(JsonSerializer.Serialize(Marker), text, StringComparison.Ordinal);
            }
        }

        /// <summary>A query string for a long poll: wait (and etag for a relay), well-formed now and then.</summary>
        public string Query(bool withEtag)
        {
            string[] waits = ["0", "1", "-1", "3601", "99999999999999999999", "1e3", "0x10", "abc", "", " 1", "%00", "%E2%80%8B1", "1.5", "٣",
                new string('9', 5000), "0&wait=1", "2147483648"];
            var query = "wait=" + waits[random.Next(waits.Length)];
            if (withEtag)
            {
                string[] etags = ["0123456789abcdef0123456789abcdef", "", "%0D%0AX-Injected:%201", "%00", new string('a', 129), new string('e', 20_000),
                    "%FF%FE", "tag with space", "..%2F..%2Fetc", "\u00e9"];
                query += "&etag=" + etags[random.Next(etags.Length)];
            }
            return random.Next(10) == 0 ? query + "&" + query : query;
        }

        private (JsonNode? Parent, object Key, JsonNode? Value)? Find(JsonNode document, string name)
        {
            var found = Slots(document).Where(s => s.Key is string k && k == name).ToList();
            return found.Count == 0 ? null : found[random.Next(found.Count)];
        }

        /// <summary>Every place in the document a value sits, below the root: (parent, property name or index, value).</summary>
        private static List<(JsonNode? Parent, object Key, JsonNode? Value)> Slots(JsonNode document)
        {
            var slots = new List<(JsonNode?, object, JsonNode?)>();
            void Walk(JsonNode? node)
            {
                switch (node)
                {
                    case JsonObject o:
                        foreach (var (name, value) in o.ToList())
                        {
                            slots.Add((o, name, value));
                            Walk(value);
                        }
                        break;
                    case JsonArray a:
                        for (var i = 0; i < a.Count; i++)
                        {
                            slots.Add((a, i, a[i]));
                            Walk(a[i]);
                        }
                        break;
                }
            }
            Walk(document);
            return slots;
        }

        private static void Set(JsonNode? parent, object key, JsonNode? value)
        {
            switch (parent)
            {
                case JsonObject o:
                    o[(string)key] = value?.Parent is null ? value : value.DeepClone();
                    break;
                case JsonArray a:
                    a[(int)key] = value?.Parent is null ? value : value.DeepClone();
                    break;
            }
        }

        private static void Set(JsonNode? parent, object key, string value) => Set(parent, key, JsonValue.Create(value));

        private static byte[] Replace(byte[] text, byte[] what, byte[] with)
        {
            var at = text.AsSpan().IndexOf(what);
            return at < 0 ? text : [.. text[..at], .. with, .. text[(at + what.Length)..]];
        }
    }
}
