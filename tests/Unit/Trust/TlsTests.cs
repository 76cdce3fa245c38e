using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using JP1Dist.Agent;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Signing;
using JP1Dist.Protocol.Tls;
using JP1Dist.Server.Manager;
using JP1Dist.Server.Serving;
using JP1Dist.Tests.Engine;
using Xunit;

namespace JP1Dist.Tests.Trust;

/// <summary>
/// The TLS pieces in this process: the plain-HTTP rule, the node's own certificate (one for concurrent first starts, its key
/// owner-only, reissued on the same key), administrators' certificates, and a manager on https that records its pin and
/// refuses, before anything is sent, a client that pinned another certificate.
/// </summary>
public sealed class TlsTests : IDisposable
{
    private readonly TestFolder _folder = new();

    [Theory]
    [InlineData("http://127.0.0.1:22400", false)]
    [InlineData("http://127.8.9.10:1", false)]
    [InlineData("http://localhost:22400", false)]
    [InlineData("http://[::1]:22400", false)]
    [InlineData("https://0.0.0.0:22400", false)]
    [InlineData("https://manager.example:22400", false)]
    [InlineData("http://0.0.0.0:0", true)]
    [InlineData("http://[::]:22400", true)]
    [InlineData("http://manager.example:22400", true)]
    [InlineData("http://10.1.2.3:22400", true)]
    public void Plain_http_is_for_loopback_only_unless_allowed(string url, bool refused)
    {
        var uri = new Uri(url);
        Assert.Equal(refused, PlainHttp.IsInsecure(uri));
        Assert.Equal(refused, PlainHttp.ListenRefusal("manager", uri, allowInsecure: false) is not null);
        Assert.Equal(refused, PlainHttp.ConnectRefusal("agent", uri, allowInsecure: false) is not null);
        Assert.Null(PlainHttp.ListenRefusal("manager", uri, allowInsecure: true));
        Assert.Null(PlainHttp.ConnectRefusal("agent", uri, allowInsecure: true));
    }

    [Fact]
    public async Task Concurrent_first_starts_agree_on_one_certificate_whose_key_only_its_owner_reads()
    {
        var folder = Path.Combine(_folder.Root, "keys");
        var listen = new Uri("https://127.0.0.1:0");
        var pins = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            using var certificate = NodeCertificate.LoadOrCreate(folder, listen, "manager");
            return Fingerprints.OfCertificate(certificate);
        })));

        Assert.Single(pins.Distinct());
        Assert.True(OwnerOnly(Path.Combine(folder, NodeCertificate.FileName)));
        Assert.DoesNotContain(Directory.GetFiles(folder), f => f.EndsWith(".tmp", StringComparison.Ordinal));
        using var published = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(folder, NodeCertificate.CertificateFileName));
        Assert.False(published.HasPrivateKey);
        Assert.Equal(pins[0], IndependentPin(published));
        Assert.Equal(ECCurve.NamedCurves.nistP256.Oid.Value, published.GetECDsaPublicKey()!.ExportParameters(false).Curve.Oid.Value);
        var names = published.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Contains("localhost", names.EnumerateDnsNames());
        Assert.Contains(Environment.MachineName, names.EnumerateDnsNames(), StringComparer.OrdinalIgnoreCase);
        Assert.Contains(IPAddress.Loopback, names.EnumerateIPAddresses());
    }

    [Fact]
    public void A_new_listen_name_reissues_the_certificate_on_the_same_key_so_the_pin_stays()
    {
        var folder = Path.Combine(_folder.Root, "state");
        string first;
        using (var certificate = NodeCertificate.LoadOrCreate(folder, new Uri("https://127.0.0.1:0"), "relay"))
        {
            first = Fingerprints.OfCertificate(certificate);
        }
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Path.Combine(folder, NodeCertificate.FileName), (UnixFileMode)0b110_100_100); // as if copied in with 0644
        }
        using var reissued = NodeCertificate.LoadOrCreate(folder, new Uri("https://relay-osaka.example:22401"), "relay");

        Assert.Equal(first, Fingerprints.OfCertificate(reissued));
        var names = reissued.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Contains("relay-osaka.example", names.EnumerateDnsNames());
        Assert.Contains(IPAddress.Loopback, names.EnumerateIPAddresses()); // the earlier names are kept
        Assert.True(OwnerOnly(Path.Combine(folder, NodeCertificate.FileName)), "an existing key file is narrowed to its owner");
    }

    [Fact]
    public void Administrator_certificates_are_read_from_pem_and_pfx()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=manager.example", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(90));
        var pin = IndependentPin(certificate);
        var combined = _folder.WriteFile("admin/combined.pem", certificate.ExportCertificatePem() + "\n" + key.ExportPkcs8PrivateKeyPem());
        var certificateOnly = _folder.WriteFile("admin/server.crt", certificate.ExportCertificatePem());
        var keyOnly = _folder.WriteFile("admin/server.key", key.ExportPkcs8PrivateKeyPem());
        var encryptedKey = _folder.WriteFile("admin/encrypted.key", key.ExportEncryptedPkcs8PrivateKeyPem("s3cret",
            new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 100_000)));
        var pfx = Path.Combine(_folder.Root, "admin", "server.pfx");
        File.WriteAllBytes(pfx, certificate.Export(X509ContentType.Pkcs12, "s3cret"));

        foreach (var (path, keyPath, password) in new (string, string?, string?)[]
                 { (combined, null, null), (certificateOnly, keyOnly, null), (certificateOnly, encryptedKey, "s3cret"), (pfx, null, "s3cret") })
        {
            using var loaded = NodeCertificate.LoadProvided(path, keyPath, password);
            Assert.True(loaded.HasPrivateKey, path);
            Assert.Equal(pin, Fingerprints.OfCertificate(loaded));
        }
        Assert.Equal("CertificateInvalid", Assert.Throws<DistException>(() => NodeCertificate.LoadProvided(certificateOnly, null, null)).ErrorId);
        Assert.Equal("CertificateInvalid", Assert.Throws<DistException>(() => NodeCertificate.LoadProvided(pfx, null, "wrong")).ErrorId);
        Assert.Equal("CertificateInvalid", Assert.Throws<DistException>(() => NodeCertificate.LoadProvided(certificateOnly, encryptedKey, null)).ErrorId);
    }

    [Fact]
    public async Task An_https_manager_records_its_pin_and_a_client_pinned_elsewhere_sends_nothing()
    {
        var app = ManagerHost.Build(new ManagerOptions { ListenUrl = "https://127.0.0.1:0", Home = _folder.Engine.Folder.Root, QuietConsole = true });
        await app.StartAsync();
        try
        {
            var url = new Uri(app.BoundUrl());
            Assert.Equal("https", url.Scheme);
            var recorded = await EventuallyAsync(async () => (await _folder.Engine.Managers.ListAsync()).SingleOrDefault(m => m.IsAlive)?.CertificatePin);
            using var served = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(_folder.Engine.Folder.KeysPath, NodeCertificate.CertificateFileName));
            Assert.Equal(IndependentPin(served), recorded);
            if (OpenSslPin(Path.Combine(_folder.Engine.Folder.KeysPath, NodeCertificate.CertificateFileName)) is { } openssl)
            {
                Assert.Equal(openssl, recorded);
            }

            var registration = new RegisterRequest("not-a-token", "pc-tls", "Linux", "6.1", "X64", ["127.0.0.1"], null, "1.0");
            var wrong = new string('a', 64);
            using (var pinnedElsewhere = new HigherSystemClient(url, certificatePin: wrong))
            {
                var refused = await Assert.ThrowsAsync<CertificatePinMismatchException>(() => pinnedElsewhere.RegisterAsync(registration, CancellationToken.None));
                Assert.Equal(wrong, refused.ExpectedPin);
                Assert.Equal(recorded, refused.PresentedPin);
                Assert.Contains(wrong, refused.Message, StringComparison.Ordinal);
                Assert.Contains(recorded!, refused.Message, StringComparison.Ordinal);
                Assert.False(HigherSystemClient.IsTransient(refused));
            }
            // The right pin gets through TLS (the manager itself then refuses the made-up token).
            using (var pinned = new HigherSystemClient(url, certificatePin: recorded!.ToUpperInvariant()))
            {
                var answer = await Assert.ThrowsAsync<HigherSystemException>(() => pinned.RegisterAsync(registration, CancellationToken.None));
                Assert.Equal(HttpStatusCode.Unauthorized, answer.Status);
            }
            // Without a pin, the system's trust store decides: a self-created certificate is not in it.
            using (var unpinned = new HigherSystemClient(url))
            {
                var untrusted = await Assert.ThrowsAsync<HttpRequestException>(() => unpinned.RegisterAsync(registration, CancellationToken.None));
                Assert.Contains("--certificate-pin", untrusted.Message, StringComparison.Ordinal);
            }
            Assert.Empty(await _folder.Engine.Hosts.ListAsync());
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_running_agent_pinned_elsewhere_logs_both_pins_as_an_error_and_keeps_trying()
    {
        var app = ManagerHost.Build(new ManagerOptions { ListenUrl = "https://127.0.0.1:0", Home = _folder.Engine.Folder.Root, QuietConsole = true });
        await app.StartAsync();
        try
        {
            var token = await _folder.Engine.Hosts.NewEnrollmentTokenAsync("running agent");
            var wrong = new string('d', 64);
            var logger = new CollectingLogger();
            using var agent = new AgentRuntime(new AgentOptions
            {
                ManagerUrl = new Uri(app.BoundUrl()),
                Token = token.Token,
                CertificatePin = wrong,
                Name = "pc-running",
                StateFolder = Path.Combine(_folder.Root, "agent-running"),
            }, logger);
            using var stop = new CancellationTokenSource();
            var running = agent.RunAsync(stop.Token);
            // Two refusals: the first is logged, and the agent went on to try again after its pause.
            await EventuallyAsync(() => Task.FromResult(logger.Errors().Count >= 2 ? "" : null), TimeSpan.FromSeconds(60));
            await stop.CancelAsync();
            await running; // returns when stopped, not with the refusal

            var recorded = (await _folder.Engine.Managers.ListAsync()).Single().CertificatePin!;
            Assert.All(logger.Errors(), message =>
            {
                Assert.Contains(wrong, message, StringComparison.Ordinal);
                Assert.Contains(recorded, message, StringComparison.Ordinal);
            });
            Assert.Empty(await _folder.Engine.Hosts.ListAsync());
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_registration_whose_token_names_another_signing_key_is_refused_before_anything_is_registered()
    {
        var app = ManagerHost.Build(new ManagerOptions { ListenUrl = "http://127.0.0.1:0", Home = _folder.Engine.Folder.Root, QuietConsole = true });
        await app.StartAsync();
        try
        {
            var token = await _folder.Engine.Hosts.NewEnrollmentTokenAsync("key test");
            using var client = new HigherSystemClient(new Uri(app.BoundUrl()));
            var other = new string('b', 64);
            var request = new RegisterRequest(token.Token!, "pc-key", "Linux", "6.1", "X64", ["127.0.0.1"], null, "1.0", SigningKeyFingerprint: other);
            var refused = await Assert.ThrowsAsync<SigningKeyMismatchException>(() => client.RegisterAsync(request, CancellationToken.None));
            Assert.Contains(other, refused.Message, StringComparison.Ordinal);
            Assert.Contains(Fingerprints.OfPublicKey(_folder.Engine.Signer.PublicKey)!, refused.Message, StringComparison.Ordinal);
            Assert.Empty(await _folder.Engine.Hosts.ListAsync());

            var own = Fingerprints.OfPublicKey(_folder.Engine.Signer.PublicKey);
            await client.RegisterAsync(request with { SigningKeyFingerprint = own!.ToUpperInvariant() }, CancellationToken.None);
            Assert.Single(await _folder.Engine.Hosts.ListAsync());
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public void The_agent_checks_the_signing_key_against_the_token_and_keeps_the_pin_in_force()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var publicKey = Convert.ToBase64String(key.ExportSubjectPublicKeyInfo());
        var fingerprint = Fingerprints.OfPublicKey(publicKey)!;
        AgentTrust.CheckSigningKey(new EnrollmentTokenText("secret", fingerprint, null), new RegisterResponse(Guid.Empty, "", publicKey), DateTime.UtcNow);
        AgentTrust.CheckSigningKey(new EnrollmentTokenText("secret", null, null), new RegisterResponse(Guid.Empty, "", publicKey), DateTime.UtcNow); // a bare secret names no key
        var refused = Assert.Throws<SigningKeyMismatchException>(() => AgentTrust.CheckSigningKey(new EnrollmentTokenText("secret", new string('c', 64), null),
            new RegisterResponse(Guid.Empty, "", publicKey), DateTime.UtcNow));
        Assert.Contains(fingerprint, refused.Message, StringComparison.Ordinal);
        Assert.Contains(new string('c', 64), refused.Message, StringComparison.Ordinal);

        var (tokenPin, identityPin, optionPin) = (new string('1', 64), new string('2', 64), new string('3', 64));
        var token = $"secret.{fingerprint}.{tokenPin}";
        var identity = new AgentIdentity(new Uri("https://m:1"), "pc", Guid.NewGuid(), "credential", publicKey, identityPin);
        Assert.Equal(tokenPin, AgentTrust.ExpectedPin(null, null, token));
        Assert.Equal(identityPin, AgentTrust.ExpectedPin(null, identity, token));
        Assert.Equal(optionPin, AgentTrust.ExpectedPin(optionPin.ToUpperInvariant(), identity, token));
        Assert.Null(AgentTrust.ExpectedPin(null, identity with { CertificatePin = null }, "secret"));
    }

    private static string IndependentPin(X509Certificate2 certificate) =>
        Convert.ToHexStringLower(SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo()));

    /// <summary>The pin as openssl computes it, when openssl is on this computer.</summary>
    internal static string? OpenSslPin(string certificateFile)
    {
        if (OperatingSystem.IsWindows() || !File.Exists("/usr/bin/openssl") && !File.Exists("/bin/openssl"))
        {
            return null;
        }
        var start = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("openssl x509 -in \"$1\" -pubkey -noout | openssl pkey -pubin -outform der | sha256sum");
        start.ArgumentList.Add("sh");
        start.ArgumentList.Add(certificateFile);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(30_000), "openssl did not finish");
        return output.Split(' ', 2)[0].Trim();
    }

    internal static bool OwnerOnly(string path) =>
        OperatingSystem.IsWindows() || (File.GetUnixFileMode(path) & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
            | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute)) == 0;

    private static async Task<T> EventuallyAsync<T>(Func<Task<T?>> probe, TimeSpan? within = null) where T : class
    {
        var limit = within ?? TimeSpan.FromSeconds(30);
        for (var deadline = DateTime.UtcNow + limit; DateTime.UtcNow < deadline; await Task.Delay(100))
        {
            if (await probe() is { } value)
            {
                return value;
            }
        }
        throw new TimeoutException($"Not within {limit.TotalSeconds:0} s.");
    }

    /// <summary>Keeps what is logged at error level.</summary>
    private sealed class CollectingLogger : Microsoft.Extensions.Logging.ILogger
    {
        private readonly List<string> _errors = [];

        public List<string> Errors()
        {
            lock (_errors)
            {
                return [.. _errors];
            }
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter)
        {
            if (logLevel == Microsoft.Extensions.Logging.LogLevel.Error)
            {
                lock (_errors)
                {
                    _errors.Add(formatter(state, exception));
                }
            }
        }
    }

    public void Dispose() => _folder.Dispose();
}
