using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Protocol.Tls;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace JP1Dist.Tests.Host;

/// <summary>
/// The manager's admin API through a real HTTPS manager process: every endpoint its OpenAPI document lists refuses a request
/// without a valid access key, and one whose role the key lacks, before it reads anything and changing nothing.
/// </summary>
public sealed class AdminApiProcessTests(HttpsManagerFixture manager) : IClassFixture<HttpsManagerFixture>
{
    private DistEngine Engine => manager.Engine;

    private HttpClient Client(string? key)
    {
        var client = new HttpClient(CertificatePinning.CreateHandler(manager.Pin)) { BaseAddress = new Uri(manager.Url) };
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(AdminApiPaths.Scheme, key);
        }
        return client;
    }

    private async Task<string> KeyAsync(string name, DistRole role) =>
        (await Engine.AccessKeys.CreateAsync(new NewAccessKeyRequest(name + Guid.NewGuid().ToString("N")[..6], role))).Key!;

    /// <summary>
    /// Every operation of the OpenAPI document: method, path with its placeholders filled, the operation's name (its
    /// summary) and the media type of its body as documented (JSON when none is).
    /// </summary>
    private async Task<List<(HttpMethod Method, string Path, string Operation)>> OperationsAsync()
    {
        using var client = Client(await KeyAsync("openapi", DistRole.Reader));
        var document = JsonDocument.Parse(await client.GetStringAsync(AdminApiPaths.OpenApi));
        var operations = new List<(HttpMethod, string, string)>();
        _bodyTypes.Clear();
        foreach (var path in document.RootElement.GetProperty("paths").EnumerateObject())
        {
            var filled = System.Text.RegularExpressions.Regex.Replace(path.Name, @"\{([^}]+)\}", m => m.Groups[1].Value == "id" ? "1" : "x");
            foreach (var method in path.Value.EnumerateObject())
            {
                operations.Add((new HttpMethod(method.Name.ToUpperInvariant()), filled, method.Value.GetProperty("summary").GetString()!));
                if (method.Value.TryGetProperty("requestBody", out var body) && body.GetProperty("content").EnumerateObject().FirstOrDefault() is { Name: { } mediaType })
                {
                    _bodyTypes[(method.Name.ToUpperInvariant(), filled)] = mediaType;
                }
            }
        }
        return operations;
    }

    private readonly Dictionary<(string Method, string Path), string> _bodyTypes = [];

    private async Task<(HttpStatusCode Status, string ErrorId)> SendAsync(HttpClient client, HttpMethod method, string path)
    {
        using var request = new HttpRequestMessage(method, path);
        if (method == HttpMethod.Post || method == HttpMethod.Put)
        {
            var mediaType = _bodyTypes.GetValueOrDefault((method.Method, path), "application/json");
            request.Content = new StringContent(mediaType == "application/json" ? "{}" : "", Encoding.UTF8);
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(mediaType);
        }
        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        var errorId = body.Length > 0 && JsonDocument.Parse(body).RootElement is { ValueKind: JsonValueKind.Object } root && root.TryGetProperty("errorId", out var id)
            ? id.GetString()! : "";
        return (response.StatusCode, errorId);
    }

    [Fact]
    public async Task The_OpenAPI_document_lists_every_operation_of_the_contracts_but_those_that_act_on_the_session_or_its_computer()
    {
        var operations = await OperationsAsync();
        var named = operations.Select(o => o.Operation).ToHashSet(StringComparer.Ordinal);
        var expected = DistOperations.RequiredRoles.Keys.Where(o => o is not (DistOperations.StartManager or DistOperations.StopManager or DistOperations.WaitJob or DistOperations.ConnectManager or DistOperations.DisconnectManager)).ToList();
        Assert.All(expected, o => Assert.Contains(o, named));
        Assert.All(operations, o => Assert.StartsWith(AdminApiPaths.Base + "/", o.Path, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Every_endpoint_refuses_no_key_a_wrong_key_an_expired_key_and_a_removed_key()
    {
        var operations = await OperationsAsync();
        var expired = await Engine.AccessKeys.CreateAsync(new NewAccessKeyRequest("expired" + Guid.NewGuid().ToString("N")[..6], DistRole.Administrator, TimeSpan.FromHours(1)));
        using (var db = Engine.Database.CreateContext())
        {
            await db.AccessKeys.Where(k => k.Name == expired.Name).ExecuteUpdateAsync(s => s.SetProperty(k => k.ExpiresAt, DateTime.UtcNow.AddMinutes(-1)));
        }
        var removed = await Engine.AccessKeys.CreateAsync(new NewAccessKeyRequest("removed" + Guid.NewGuid().ToString("N")[..6], DistRole.Administrator));
        await Engine.AccessKeys.RemoveAsync(removed.Name);
        var wrong = removed.Key![..^4] + "AAAA";
        var before = (await Engine.Audit.ListAsync(new AuditQuery())).Count;

        foreach (var (key, errorId) in new[] { ((string?)null, "AccessKeyMissing"), ("not a key", "AccessKeyUnknown"), (wrong, "AccessKeyUnknown"), (expired.Key, "AccessKeyExpired"), (removed.Key, "AccessKeyRemoved") })
        {
            using var client = Client(key);
            foreach (var (method, path, _) in operations.Append((HttpMethod.Get, AdminApiPaths.OpenApi, "")).Append((HttpMethod.Get, AdminApiPaths.Base + "/no-such-thing", "")))
            {
                Assert.Equal((HttpStatusCode.Unauthorized, errorId, method, path), (await SendAsync(client, method, path)) is var (status, id) ? (status, id, method, path) : default);
            }
        }
        Assert.Equal(before, (await Engine.Audit.ListAsync(new AuditQuery())).Count);
    }

    [Theory]
    [InlineData(DistRole.Reader)]
    [InlineData(DistRole.Operator)]
    public async Task A_key_is_refused_every_operation_its_role_does_not_allow_and_nothing_changes(DistRole role)
    {
        var operations = await OperationsAsync();
        var key = await KeyAsync(role.ToString(), role);
        var principal = (await Engine.AccessKeys.ListAsync()).Single(k => key.Contains(k.KeyId, StringComparison.Ordinal)).Name;
        var snapshot = await SnapshotAsync();
        using var client = Client(key);
        var refused = 0;
        foreach (var (method, path, operation) in operations)
        {
            var (status, errorId) = await SendAsync(client, method, path);
            if (role.Allows(operation))
            {
                Assert.True(status != HttpStatusCode.Forbidden, $"{role} was refused {operation} ({method} {path})");
            }
            else
            {
                Assert.Equal((HttpStatusCode.Forbidden, "PermissionDenied", operation), (status, errorId, operation));
                refused++;
            }
        }
        Assert.True(refused > 0);
        Assert.Equal(snapshot, await SnapshotAsync());
        var entries = (await Engine.Audit.ListAsync(new AuditQuery(Principal: principal))).ToList();
        Assert.Equal(refused, entries.Count(e => e.Outcome == AuditOutcome.Denied));
        Assert.All(entries, e => Assert.Equal("127.0.0.1", e.Source));
    }

    [Fact]
    public async Task An_engine_error_keeps_its_id_kind_and_target_in_the_problem_details()
    {
        using var client = Client(await KeyAsync("admin", DistRole.Administrator));
        using var response = await client.DeleteAsync(AdminApiPaths.Base + "/" + AdminApiPaths.Fill(AdminApiPaths.Job, "No such job"));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(("JobNotFound", "NotFound", "No such job"),
            (problem.GetProperty("errorId").GetString(), problem.GetProperty("kind").GetString(), problem.GetProperty("target").GetString()));
    }

    /// <summary>What a refused change could have touched, as text.</summary>
    private async Task<string> SnapshotAsync() => JsonSerializer.Serialize(new object[]
    {
        await Engine.Packages.ListAsync(), await Engine.Jobs.ListAsync(), await Engine.HostGroups.ListAsync(), await Engine.IdGroups.ListAsync(),
        (await Engine.AccessKeys.ListAsync()).Select(k => k with { LastUsedAt = null }).ToList(), await Engine.Hosts.ListEnrollmentTokensAsync(), await Engine.SigningKeys.ListAsync(),
    });
}
