using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Signing;
using JP1Dist.Protocol.Tls;
using JP1Dist.Server.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Host;

/// <summary>
/// Relay certificates through real `jp1dist` processes on 127.0.0.1: an HTTPS manager, a relay that obtains a certificate
/// issued by the manager's signing key, a relay below it that trusts it through its token and obtains its own through it,
/// and an agent below that enrolls with nothing but its token and installs. A fake relay whose certificate is self-signed
/// or issued by another manager's key is refused before anything is sent.
/// </summary>
public sealed class RelayCertificateProcessTests(HttpsManagerFixture manager, ITestOutputHelper output) : IClassFixture<HttpsManagerFixture>
{
    private DistEngine Engine => manager.Engine;

    [Fact]
    public async Task Agents_and_relays_below_a_relay_need_only_their_token()
    {
        var stateA = Path.Combine(manager.Root, "relay-a-cert");
        var stateB = Path.Combine(manager.Root, "relay-b-cert");
        NodeProcess? relayA = null;
        NodeProcess? relayB = null;
        try
        {
            relayA = NodeProcess.Start(null, "relay", "--manager", manager.Url, "--token", await manager.NewTokenTextAsync(relay: true),
                "--listen", "https://127.0.0.1:0", "--name", "relay-a-cert", "--state", stateA);
            var urlA = (await Eventually.ForAsync(async () => (await Engine.Hosts.ListAsync("relay-a-cert")).SingleOrDefault()?.RelayUrl, "relay A registered", relayA))!;
            await Eventually.ForAsync(() => Task.FromResult(File.Exists(Path.Combine(stateA, NodeCertificate.IssuedFileName)) ? "" : null), "relay A obtained its certificate", relayA);

            // What relay A presents: a leaf for its own key (the pin of its own certificate stays), and the certificate of
            // the manager's signing key that issued it.
            var ownPinA = IndependentPin(Path.Combine(stateA, NodeCertificate.CertificateFileName));
            var presented = await Eventually.ForAsync(async () => await PresentedAsync(urlA) is { } p && p.Chain.Contains(manager.SigningKey) ? p : null, "relay A serves the issued chain", relayA);
            Assert.Equal(ownPinA, presented.LeafPin);
            Assert.Contains(manager.SigningKey, presented.LeafIssuer, StringComparison.Ordinal);

            // Relay B below relay A with a relay token and no pin: it trusts A's certificate through the token's signing
            // key, registers through A, and obtains its own certificate through A (only the manager issues).
            relayB = NodeProcess.Start(null, "relay", "--manager", urlA, "--token", await manager.NewTokenTextAsync(relay: true),
                "--listen", "https://127.0.0.1:0", "--name", "relay-b-cert", "--state", stateB);
            var registeredB = await Eventually.ForAsync(async () => (await Engine.Hosts.ListAsync("relay-b-cert")).SingleOrDefault(), "relay B registered through relay A", relayB);
            Assert.Equal("relay-a-cert", registeredB.HigherSystem);
            var urlB = registeredB.RelayUrl!;
            await Eventually.ForAsync(async () => await PresentedAsync(urlB) is { } p && p.Chain.Contains(manager.SigningKey) ? p : null, "relay B serves a chain issued by the manager", relayB);

            // An agent below relay B with the token New-DistEnrollmentToken makes (it carries the manager's pin, not the
            // relays'), and no --certificate-pin: it enrolls and installs.
            var state = Path.Combine(manager.Root, "agent-pc-cert");
            var join = await RunAsync("agent", "--manager", urlB, "--token", await manager.NewTokenTextAsync(), "--name", "pc-cert", "--state", state, "--once");
            Assert.Equal(0, join.ExitCode);
            Assert.Equal("relay-b-cert", (await Engine.Hosts.ListAsync("pc-cert")).Single().HigherSystem);
            var identity = JsonDocument.Parse(File.ReadAllText(Path.Combine(state, "agent.json"))).RootElement;
            Assert.Equal(manager.SigningKey, Fingerprints.OfPublicKey(identity.GetProperty("manifestPublicKey").GetString()!));

            var log = Path.Combine(manager.Root, "installed-pc-cert.log");
            var package = Path.Combine(manager.Root, "package-cert");
            Directory.CreateDirectory(package);
            File.WriteAllText(Path.Combine(package, "install.sh"), "#!/bin/sh\necho \"$JP1DIST_HOST_NAME $JP1DIST_PACKAGE_NAME\" >> \"$1\"\n");
            await Engine.Packages.CreateAsync(new NewPackageRequest("CertApp", "1.0", package, "install.sh", [log]));
            await Engine.Jobs.CreateAsync(new NewJobRequest("Cert install", "CertApp", null, ["pc-cert"]));
            await Engine.Jobs.StartAsync("Cert install");
            // The relays learn the work by their own polls; each agent run (no token now: its identity) takes what B has by then.
            await Eventually.ForAsync(async () =>
            {
                var run = await RunAsync("agent", "--manager", urlB, "--name", "pc-cert", "--state", state, "--once");
                Assert.Equal(0, run.ExitCode);
                return (await Engine.Jobs.GetStatusAsync(new JobStatusQuery("Cert install"))).Single().Status == TargetStatus.Succeeded ? "" : null;
            }, "installed through two relays");
            Assert.Equal(["pc-cert CertApp"], File.ReadAllLines(log));

            // Relay A restarted while its higher system cannot be reached keeps serving the certificate it was issued.
            var logA = await relayA.StopAsync();
            output.WriteLine(logA);
            Assert.Contains("Serving the certificate the manager issued with signing key " + manager.SigningKey, logA, StringComparison.Ordinal);
            relayA.Dispose();
            var port = new Uri(urlA).Port;
            relayA = NodeProcess.Start(null, "relay", "--manager", $"https://127.0.0.1:{FreePort()}", "--listen", $"https://127.0.0.1:{port}", "--name", "relay-a-cert", "--state", stateA);
            var kept = await Eventually.ForAsync(async () => await PresentedAsync(urlA), "relay A serves again", relayA);
            Assert.Equal(ownPinA, kept.LeafPin);
            Assert.Contains(manager.SigningKey, kept.Chain);
        }
        finally
        {
            foreach (var relay in new[] { relayB, relayA })
            {
                if (relay is not null)
                {
                    output.WriteLine(await relay.StopAsync());
                    relay.Dispose();
                }
            }
        }
    }

    [Fact]
    public async Task A_fake_relay_with_a_self_signed_or_foreign_certificate_is_refused_before_anything_is_sent()
    {
        using var otherSigner = ManifestSigner.LoadOrCreate(Path.Combine(manager.Root, "other-manager-keys"));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var selfSigned = new CertificateRequest("CN=relay-fake", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        selfSigned.CertificateExtensions.Add(names.Build());
        selfSigned.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(RelayCertificates.ServerAuthenticationOid)], false));
        using var own = selfSigned.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(30));
        using var foreign = RelayCertificates.Issue(otherSigner, RelayCertificates.Request(key, "relay-fake", ["localhost"], [IPAddress.Loopback]),
            "relay-fake", Guid.NewGuid(), DateTimeOffset.UtcNow);
        using var foreignWithKey = foreign.Certificate.CopyWithPrivateKey(key);

        foreach (var (name, certificate, chain) in new[] { ("pc-fake-self", own, (X509Certificate2?)null), ("pc-fake-foreign", foreignWithKey, foreign.Issuer) })
        {
            await using var fake = await FakeRelay.StartAsync(certificate, chain);
            var state = Path.Combine(manager.Root, "agent-" + name);
            var run = await RunAsync("agent", "--manager", fake.Url, "--token", await manager.NewTokenTextAsync(), "--name", name, "--state", state, "--once");

            Assert.NotEqual(0, run.ExitCode);
            Assert.Contains("not trusted", run.Output, StringComparison.Ordinal);
            Assert.Contains(manager.SigningKey, run.Output, StringComparison.Ordinal);
            Assert.Contains(Fingerprints.OfCertificate(certificate), run.Output, StringComparison.Ordinal);
            Assert.Equal(0, fake.Requests);
            Assert.False(File.Exists(Path.Combine(state, "agent.json")));
            Assert.Empty(await Engine.Hosts.ListAsync(name));
        }
    }

    /// <summary>What a server presents in its TLS handshake: its leaf's pin and issuer, and the fingerprints of the other certificates it sent.</summary>
    private sealed record Presented(string LeafPin, string LeafIssuer, IReadOnlyList<string> Chain);

    private static async Task<Presented?> PresentedAsync(string url)
    {
        var uri = new Uri(url);
        Presented? presented = null;
        try
        {
            using var tcp = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await tcp.ConnectAsync(IPAddress.Loopback, uri.Port, timeout.Token);
            await using var tls = new SslStream(tcp.GetStream());
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = uri.Host,
                RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
                {
                    using var leaf = X509CertificateLoader.LoadCertificate(certificate!.GetRawCertData());
                    var others = chain?.ChainPolicy.ExtraStore.Select(c => Convert.ToHexStringLower(SHA256.HashData(c.PublicKey.ExportSubjectPublicKeyInfo()))).ToList() ?? [];
                    presented = new Presented(Convert.ToHexStringLower(SHA256.HashData(leaf.PublicKey.ExportSubjectPublicKeyInfo())), leaf.Issuer, others);
                    return true;
                },
            }, timeout.Token);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
        {
            return null;
        }
        return presented;
    }

    private static string IndependentPin(string certificateFile)
    {
        using var certificate = X509CertificateLoader.LoadCertificateFromFile(certificateFile);
        return Convert.ToHexStringLower(SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo()));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Runs jp1dist to its end (bounded) and returns its exit code and everything it wrote.</summary>
    private async Task<(int ExitCode, string Output)> RunAsync(params string[] arguments)
    {
        using var node = NodeProcess.Start(null, arguments);
        var exitCode = await node.WaitAsync(TimeSpan.FromSeconds(120));
        var text = await node.OutputAsync();
        output.WriteLine($"jp1dist {string.Join(' ', arguments.Select(a => a.Length > 40 ? a[..12] + "…" : a))} → {exitCode}\n{text}");
        return (exitCode, text);
    }

    /// <summary>An https server on 127.0.0.1 that presents a given certificate (and chain) and counts the requests that reach it.</summary>
    private sealed class FakeRelay : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _requests;

        private FakeRelay(WebApplication app) => _app = app;

        public string Url { get; private set; } = "";

        public int Requests => Volatile.Read(ref _requests);

        public static async Task<FakeRelay> StartAsync(X509Certificate2 certificate, X509Certificate2? issuer)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrelHttpsConfiguration();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(new HttpsConnectionAdapterOptions
            {
                ServerCertificate = certificate,
                ServerCertificateChain = issuer is null ? null : [issuer],
            })));
            var fake = new FakeRelay(builder.Build());
            fake._app.Run(context =>
            {
                Interlocked.Increment(ref fake._requests);
                context.Response.StatusCode = 503;
                return Task.CompletedTask;
            });
            await fake._app.StartAsync();
            fake.Url = fake._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return fake;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
