using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Signing;
using JP1Dist.Server.Serving;
using JP1Dist.Tests.Trust;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Host;

/// <summary>
/// HTTPS and pinning through real `jp1dist` processes on 127.0.0.1: a manager that made its own certificate, agents whose
/// token carries (or whose --certificate-pin overrides) the pin and the signing-key fingerprint, a relay on HTTPS below
/// it, administrators' certificates, and listeners that plain HTTP would expose.
/// </summary>
public sealed class TlsProcessTests(HttpsManagerFixture manager, ITestOutputHelper output) : IClassFixture<HttpsManagerFixture>
{
    private DistEngine Engine => manager.Engine;

    [Fact]
    public async Task An_agent_whose_token_carries_the_pins_registers_over_https_and_installs_a_package()
    {
        var tokenFile = Path.Combine(manager.Root, "pc-tls.token");
        File.WriteAllText(tokenFile, await manager.NewTokenTextAsync() + "\n");
        var state = Path.Combine(manager.Root, "agent-pc-tls");

        var first = await RunAsync(null, "agent", "--manager", manager.Url, "--token-file", tokenFile, "--name", "pc-tls", "--state", state, "--once");
        Assert.Equal(0, first.ExitCode);
        Assert.Single(await Engine.Hosts.ListAsync("pc-tls"));
        var identityPath = Path.Combine(state, "agent.json");
        Assert.True(TlsTests.OwnerOnly(identityPath), "agent.json holds the credential: owner-only");
        Assert.Equal(manager.Pin, JsonDocument.Parse(File.ReadAllText(identityPath)).RootElement.GetProperty("certificatePin").GetString());

        // Executing the job nudges the manager over HTTPS, pinned to the pin it recorded.
        var log = Path.Combine(manager.Root, "installed-pc-tls.log");
        var package = Path.Combine(manager.Root, "package-tls");
        Directory.CreateDirectory(package);
        File.WriteAllText(Path.Combine(package, "install.sh"), "#!/bin/sh\necho \"$JP1DIST_HOST_NAME $JP1DIST_PACKAGE_NAME\" >> \"$1\"\n");
        await Engine.Packages.CreateAsync(new NewPackageRequest("TlsApp", "1.0", package, "install.sh", [log]));
        await Engine.Jobs.CreateAsync(new NewJobRequest("TLS install", "TlsApp", null, ["pc-tls"]));
        await Engine.Jobs.StartAsync("TLS install");
        await Eventually.ForAsync(async () => (await StatusAsync("TLS install")).Status == TargetStatus.Queued, "the job dispatched");

        // Later runs need no token: the identity keeps the credential and the pin.
        var second = await RunAsync(null, "agent", "--manager", manager.Url, "--name", "pc-tls", "--state", state, "--once");
        Assert.Equal(0, second.ExitCode);
        Assert.Equal(TargetStatus.Succeeded, (await StatusAsync("TLS install")).Status);
        Assert.Equal(["pc-tls TlsApp"], File.ReadAllLines(log));
    }

    [Fact]
    public async Task A_pin_other_than_the_managers_is_refused_before_anything_is_sent()
    {
        var wrong = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var state = Path.Combine(manager.Root, "agent-pc-wrongpin");
        var run = await RunAsync(null, "agent", "--manager", manager.Url, "--token", await manager.NewTokenTextAsync(), "--certificate-pin", wrong,
            "--name", "pc-wrongpin", "--state", state, "--once");

        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains(wrong, run.Output, StringComparison.Ordinal);
        Assert.Contains(manager.Pin, run.Output, StringComparison.Ordinal);
        Assert.Empty(await Engine.Hosts.ListAsync("pc-wrongpin"));
        Assert.False(File.Exists(Path.Combine(state, "agent.json")));
    }

    [Fact]
    public async Task A_token_naming_another_signing_key_is_refused_and_nothing_is_registered_or_saved()
    {
        var other = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var token = await manager.NewTokenTextAsync(signingKey: other);
        var state = Path.Combine(manager.Root, "agent-pc-wrongkey");
        var run = await RunAsync(null, "agent", "--manager", manager.Url, "--token", token, "--name", "pc-wrongkey", "--state", state, "--once");

        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains(other, run.Output, StringComparison.Ordinal);
        Assert.Contains(manager.SigningKey, run.Output, StringComparison.Ordinal);
        Assert.Empty(await Engine.Hosts.ListAsync("pc-wrongkey"));
        Assert.False(File.Exists(Path.Combine(state, "agent.json")));
    }

    [Fact]
    public async Task The_token_comes_from_JP1DIST_TOKEN_and_a_token_file_comes_before_it()
    {
        var fromEnvironment = await RunAsync(new() { ["JP1DIST_TOKEN"] = await manager.NewTokenTextAsync() },
            "agent", "--manager", manager.Url, "--name", "pc-env", "--state", Path.Combine(manager.Root, "agent-pc-env"), "--once");
        Assert.Equal(0, fromEnvironment.ExitCode);
        Assert.Single(await Engine.Hosts.ListAsync("pc-env"));

        // A well-formed secret the manager never issued, in the variable: the file's token is the one used.
        var tokenFile = Path.Combine(manager.Root, "pc-file.token");
        File.WriteAllText(tokenFile, await manager.NewTokenTextAsync());
        var fileFirst = await RunAsync(new() { ["JP1DIST_TOKEN"] = "never-issued-secret" },
            "agent", "--manager", manager.Url, "--token-file", tokenFile, "--name", "pc-file", "--state", Path.Combine(manager.Root, "agent-pc-file"), "--once");
        Assert.Equal(0, fileFirst.ExitCode);
        Assert.Single(await Engine.Hosts.ListAsync("pc-file"));
    }

    [Fact]
    public async Task An_https_relay_below_the_https_manager_serves_a_client_given_the_relays_pin()
    {
        var relayState = Path.Combine(manager.Root, "relay-tls");
        using var relay = NodeProcess.Start(null, "relay", "--manager", manager.Url, "--token", await manager.NewTokenTextAsync(relay: true),
            "--listen", "https://127.0.0.1:0", "--name", "relay-tls", "--state", relayState);
        try
        {
            var registered = await Eventually.ForAsync(async () => (await Engine.Hosts.ListAsync("relay-tls")).SingleOrDefault(), "the relay registered");
            var relayUrl = registered.RelayUrl!;
            Assert.StartsWith("https://127.0.0.1:", relayUrl, StringComparison.Ordinal);
            using var relayCertificate = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(relayState, NodeCertificate.CertificateFileName));
            var relayPin = Fingerprints.OfCertificate(relayCertificate);
            Assert.NotEqual(manager.Pin, relayPin);
            // The manager knows the relay as soon as it answers; the relay saves its identity right after reading the answer.
            await Eventually.ForAsync(() => Task.FromResult(File.Exists(Path.Combine(relayState, "agent", "agent.json"))), "the relay saved its identity");
            foreach (var secret in new[] { NodeCertificate.FileName, Path.Combine("agent", "agent.json"), "relay.db" })
            {
                Assert.True(TlsTests.OwnerOnly(Path.Combine(relayState, secret)), secret);
            }

            // The client's token names the signing key; the relay's pin comes by --certificate-pin (not yet in tokens).
            var secretAndKey = new EnrollmentTokenText(await manager.NewSecretAsync(), manager.SigningKey, null).ToString();
            var state = Path.Combine(manager.Root, "agent-pc-below");
            var join = await RunAsync(null, "agent", "--manager", relayUrl, "--token", secretAndKey, "--certificate-pin", relayPin,
                "--name", "pc-below", "--state", state, "--once");
            Assert.Equal(0, join.ExitCode);
            Assert.Equal("relay-tls", (await Engine.Hosts.ListAsync("pc-below")).Single().HigherSystem);

            var log = Path.Combine(manager.Root, "installed-pc-below.log");
            var package = Path.Combine(manager.Root, "package-below");
            Directory.CreateDirectory(package);
            File.WriteAllText(Path.Combine(package, "install.sh"), "#!/bin/sh\necho \"$JP1DIST_HOST_NAME $JP1DIST_PACKAGE_NAME\" >> \"$1\"\n");
            await Engine.Packages.CreateAsync(new NewPackageRequest("BelowApp", "1.0", package, "install.sh", [log]));
            await Engine.Jobs.CreateAsync(new NewJobRequest("Below install", "BelowApp", null, ["pc-below"]));
            await Engine.Jobs.StartAsync("Below install");
            // The relay learns the work by its own poll; each agent run takes what it has by then.
            await Eventually.ForAsync(async () =>
            {
                var run = await RunAsync(null, "agent", "--manager", relayUrl, "--name", "pc-below", "--state", state, "--once");
                Assert.Equal(0, run.ExitCode);
                return (await StatusAsync("Below install")).Status == TargetStatus.Succeeded;
            }, "installed through the relay");
            Assert.Equal(["pc-below BelowApp"], File.ReadAllLines(log));
        }
        finally
        {
            output.WriteLine(await relay.StopAsync());
        }
    }

    [Fact]
    public async Task Plain_http_beyond_loopback_is_refused_before_anything_is_created_or_bound()
    {
        var home = Path.Combine(manager.Root, "refused-home");
        var managerRun = await RunAsync(null, "manager", "--listen", "http://0.0.0.0:0", "--home", home);
        Assert.Equal(2, managerRun.ExitCode);
        Assert.Contains("--allow-insecure-http", managerRun.Output, StringComparison.Ordinal);
        Assert.Contains("https://0.0.0.0:0", managerRun.Output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(home), "nothing is created, so nothing was bound either");

        var relayState = Path.Combine(manager.Root, "refused-relay");
        var relayRun = await RunAsync(null, "relay", "--manager", manager.Url, "--listen", "http://0.0.0.0:0", "--state", relayState, "--token", await manager.NewTokenTextAsync(relay: true));
        Assert.Equal(2, relayRun.ExitCode);
        Assert.Contains("--allow-insecure-http", relayRun.Output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(relayState));

        var upward = await RunAsync(null, "relay", "--manager", "http://upper.jp1dist.invalid:22400", "--listen", "https://127.0.0.1:0", "--state", relayState);
        Assert.Equal(2, upward.ExitCode);
        Assert.Contains("refusing to connect to http://upper.jp1dist.invalid:22400", upward.Output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(relayState));

        var agentState = Path.Combine(manager.Root, "refused-agent");
        var agent = await RunAsync(null, "agent", "--manager", "http://upper.jp1dist.invalid:22400", "--token", "secret", "--state", agentState, "--once");
        Assert.Equal(2, agent.ExitCode);
        Assert.Contains("--allow-insecure-http", agent.Output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(agentState));
    }

    [Fact]
    public async Task Administrator_certificates_in_pem_and_pfx_are_served_and_their_pin_recorded()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var request = new CertificateRequest("CN=manager.example", key, HashAlgorithmName.SHA384);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        var pin = Convert.ToHexStringLower(SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo()));
        var folder = Path.Combine(manager.Root, "admin-certificates");
        Directory.CreateDirectory(folder);
        var pem = Path.Combine(folder, "server.crt");
        var pemKey = Path.Combine(folder, "server.key");
        var pfx = Path.Combine(folder, "server.pfx");
        File.WriteAllText(pem, certificate.ExportCertificatePem());
        File.WriteAllText(pemKey, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllBytes(pfx, certificate.Export(X509ContentType.Pkcs12, "pfx-password"));
        if (TlsTests.OpenSslPin(pem) is { } openssl)
        {
            Assert.Equal(pin, openssl);
        }

        foreach (var (arguments, environment) in new (string[], Dictionary<string, string?>?)[]
                 {
                     (["--certificate", pem, "--certificate-key", pemKey], null),
                     (["--certificate", pfx], new() { [NodeTlsOptions.PasswordVariable] = "pfx-password" }),
                 })
        {
            var home = Path.Combine(manager.Root, "admin-home-" + Guid.NewGuid().ToString("N")[..6]);
            var engine = TestDatabase.Engine(home);
            using var node = NodeProcess.Start(environment, ["manager", "--listen", "https://127.0.0.1:0", "--home", home, .. arguments]);
            try
            {
                var announced = await Eventually.ForAsync(async () => (await engine.Managers.ListAsync()).FirstOrDefault(m => m.ProcessId == node.Process.Id && m.IsAlive),
                    "the manager announced itself", node);
                Assert.Equal(pin, announced.CertificatePin);
                Assert.False(File.Exists(Path.Combine(home, "keys", NodeCertificate.FileName)), "a given certificate is used, none is created");

                string? presented = null;
                using var handler = new SocketsHttpHandler();
                handler.SslOptions.RemoteCertificateValidationCallback = (_, served, _, _) =>
                {
                    using var copy = X509CertificateLoader.LoadCertificate(served!.GetRawCertData());
                    presented = Fingerprints.OfCertificate(copy);
                    return presented == pin;
                };
                using var client = new HttpClient(handler);
                using var ping = await client.GetAsync(new Uri(new Uri(announced.Url), ApiPaths.Ping));
                Assert.Equal(HttpStatusCode.OK, ping.StatusCode);
                Assert.Equal(pin, presented);
            }
            finally
            {
                output.WriteLine(await node.StopAsync());
            }
        }
    }

    private async Task<DistJobStatus> StatusAsync(string job) => (await Engine.Jobs.GetStatusAsync(new JobStatusQuery(job))).Single();

    /// <summary>Runs jp1dist to its end (bounded) and returns its exit code and everything it wrote.</summary>
    private async Task<(int ExitCode, string Output)> RunAsync(Dictionary<string, string?>? environment, params string[] arguments)
    {
        using var node = NodeProcess.Start(environment, arguments);
        var exitCode = await node.WaitAsync(TimeSpan.FromSeconds(120));
        var text = await node.OutputAsync();
        output.WriteLine($"jp1dist {string.Join(' ', arguments.Select(a => a.Length > 40 ? a[..12] + "…" : a))} → {exitCode}\n{text}");
        return (exitCode, text);
    }

}

/// <summary>One HTTPS manager (self-created certificate) on 127.0.0.1 for the tests of a class, on a scratch data folder.</summary>
public sealed class HttpsManagerFixture : IAsyncLifetime
{
    private NodeProcess? _manager;

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "jp1dist-tls-" + Guid.NewGuid().ToString("N")[..8]);
    public DistEngine Engine { get; private set; } = null!;
    public string Url { get; private set; } = "";
    /// <summary>The pin the manager recorded in its heartbeat row.</summary>
    public string Pin { get; private set; } = "";
    /// <summary>The fingerprint of the manager's signing key.</summary>
    public string SigningKey { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var home = Path.Combine(Root, "home");
        Engine = TestDatabase.Engine(home);
        SigningKey = Fingerprints.OfPublicKey(Engine.Signer.PublicKey)!;
        _manager = NodeProcess.Start(null, "manager", "--listen", "https://127.0.0.1:0", "--home", home);
        for (var deadline = DateTime.UtcNow.AddSeconds(90); DateTime.UtcNow < deadline && !_manager.Process.HasExited; await Task.Delay(200))
        {
            if ((await Engine.Managers.ListAsync()).FirstOrDefault(m => m.ProcessId == _manager.Process.Id && m.IsAlive) is { CertificatePin: { } pin } announced)
            {
                (Url, Pin) = (announced.Url, pin);
                break;
            }
        }
        if (Pin.Length == 0)
        {
            throw new InvalidOperationException("The HTTPS manager did not announce itself: " + await _manager.StopAsync());
        }
        // The recorded pin is the served certificate's, computed apart from the product's code.
        var published = Path.Combine(home, "keys", NodeCertificate.CertificateFileName);
        using (var certificate = X509CertificateLoader.LoadCertificateFromFile(published))
        {
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo())), Pin);
        }
        if (TlsTests.OpenSslPin(published) is { } openssl)
        {
            Assert.Equal(openssl, Pin);
        }
        Assert.True(TlsTests.OwnerOnly(Path.Combine(home, "keys", NodeCertificate.FileName)), "the TLS private key is owner-only");
    }

    /// <summary>A new enrollment token's secret part.</summary>
    public async Task<string> NewSecretAsync(bool relay = false) =>
        EnrollmentTokenText.TryParse((await Engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("tls test", Relay: relay))).Token)!.Secret;

    /// <summary>
    /// A token's text as New-DistEnrollmentToken prints it against this running HTTPS manager: it must carry the signing
    /// key's fingerprint and the manager's pin. With <paramref name="signingKey"/>, a token naming another key instead.
    /// </summary>
    public async Task<string> NewTokenTextAsync(string? signingKey = null, bool relay = false)
    {
        var issued = (await Engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("tls test", Relay: relay))).Token!;
        var text = EnrollmentTokenText.TryParse(issued)!;
        Assert.Equal((SigningKey, Pin), (text.SigningKeyFingerprint, text.CertificatePin));
        return signingKey is null ? issued : (text with { SigningKeyFingerprint = signingKey }).ToString();
    }

    public async Task DisposeAsync()
    {
        if (_manager is not null)
        {
            await _manager.StopAsync();
            _manager.Dispose();
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A `jp1dist` child process whose output is collected; killed when disposed if still running.</summary>
public sealed class NodeProcess : IDisposable
{
    private readonly Task<string> _stdout;
    private readonly Task<string> _stderr;

    private NodeProcess(Process process)
    {
        Process = process;
        _stdout = process.StandardOutput.ReadToEndAsync();
        _stderr = process.StandardError.ReadToEndAsync();
    }

    public Process Process { get; }

    public static NodeProcess Start(Dictionary<string, string?>? environment, params string[] arguments) => Start(null, environment, arguments);

    /// <summary>
    /// Starts jp1dist; with <paramref name="descriptorLimit"/> (not on Windows) under that limit on open files, soft and hard,
    /// as a service unit's LimitNOFILE sets it (through the shell's ulimit, which then executes jp1dist in its place).
    /// </summary>
    public static NodeProcess Start(int? descriptorLimit, Dictionary<string, string?>? environment, params string[] arguments)
    {
        var exe = Path.Combine(Repository.Root, "out", "jp1dist", OperatingSystem.IsWindows() ? "jp1dist.exe" : "jp1dist");
        var start = new ProcessStartInfo(descriptorLimit is null ? exe : "/bin/sh")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        if (descriptorLimit is { } limit)
        {
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add($"ulimit -n {limit} && exec \"$0\" \"$@\"");
            start.ArgumentList.Add(exe);
        }
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        // Nothing from the test runner's environment decides where these nodes keep state or which token they use.
        foreach (var variable in new[] { "JP1DIST_HOME", "JP1DIST_TOKEN", NodeTlsOptions.PasswordVariable, "JP1DIST_PARENT_PID", "JP1DIST_SHUTDOWN_SECRET" })
        {
            start.Environment.Remove(variable);
        }
        foreach (var (name, value) in environment ?? [])
        {
            start.Environment[name] = value;
        }
        return new NodeProcess(Process.Start(start)!);
    }

    /// <summary>Waits for the process to end, killing it after <paramref name="timeout"/>; its exit code.</summary>
    public async Task<int> WaitAsync(TimeSpan timeout)
    {
        using var wait = new CancellationTokenSource(timeout);
        try
        {
            await Process.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            Process.Kill(entireProcessTree: true);
            await Process.WaitForExitAsync(CancellationToken.None);
            throw new TimeoutException($"jp1dist did not finish within {timeout.TotalSeconds:0} s: {await OutputAsync()}");
        }
        return Process.ExitCode;
    }

    /// <summary>Everything the process wrote (stdout, then stderr), once it has ended.</summary>
    public async Task<string> OutputAsync() => await _stdout + await _stderr;

    /// <summary>Stops the process (SIGTERM where there is one, then a kill after a bound) and returns its output.</summary>
    public async Task<string> StopAsync()
    {
        if (!Process.HasExited)
        {
            if (!OperatingSystem.IsWindows())
            {
                using var kill = Process.Start("kill", ["-TERM", Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                await kill.WaitForExitAsync();
            }
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await Process.WaitForExitAsync(wait.Token);
            }
            catch (OperationCanceledException)
            {
                Process.Kill(entireProcessTree: true);
                await Process.WaitForExitAsync(CancellationToken.None);
            }
        }
        return await OutputAsync();
    }

    public void Dispose()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
        }
        Process.Dispose();
    }
}
