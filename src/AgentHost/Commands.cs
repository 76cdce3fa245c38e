using System.CommandLine;
using JP1Dist.Agent;
using JP1Dist.AgentHost.Scripting;
using JP1Dist.Core.Audit;
using JP1Dist.Core.Managers;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Signing;
using JP1Dist.Protocol.Tls;
using JP1Dist.Server.Logging;
using JP1Dist.Server.Manager;
using JP1Dist.Server.Relay;
using JP1Dist.Server.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serilog.Extensions.Logging;

namespace JP1Dist.AgentHost;

/// <summary>The jp1dist command line: one executable for every node, and a script runner for computers without pwsh.</summary>
internal static class Commands
{
    public static RootCommand Build()
    {
        var root = new RootCommand("JP1Dist: software distribution. Runs a manager, a relay or an agent, or a PowerShell script with the JP1Dist module.");
        root.Subcommands.Add(Manager());
        root.Subcommands.Add(Relay());
        root.Subcommands.Add(Agent());
        root.Subcommands.Add(Offline());
        root.Subcommands.Add(Available());
        root.Subcommands.Add(Install());
        root.Subcommands.Add(Run());
        return root;
    }

    private static Command Manager()
    {
        var listen = new Option<string>("--listen")
        {
            Description = "The URL to listen on (port 0 picks a free port). https:// serves TLS with the manager's own certificate (created in the "
                + "data folder's keys folder) or --certificate; plain http:// only on loopback unless --allow-insecure-http.",
            DefaultValueFactory = _ => ManagerOptions.DefaultListenUrl,
        };
        var home = new Option<string?>("--home") { Description = "The data folder (default: $JP1DIST_HOME, else the application-data folder)." };
        var adminLimit = new Option<int>("--admin-requests-per-minute")
        {
            Description = "How many admin API requests (Connect-DistManager sessions) one access key may make a minute; requests with refused keys "
                + "count against their source address. More are answered 429 with Retry-After.",
            DefaultValueFactory = _ => ManagerOptions.DefaultAdminRequestsPerMinute,
        };
        var auditRetention = new Option<int>("--audit-retention-days")
        {
            Description = "How many days the audit log keeps an entry (at least 30); older entries are archived to the data folder's "
                + "logs/audit-archive (JSON lines) and removed.",
            DefaultValueFactory = _ => (int)AuditRetention.Default.TotalDays,
        };
        var tls = new TlsOptions("manager");
        var wakeAddress = new Option<string?>("--wake-address")
        {
            Description = "Where the Wake-on-LAN packets of jobs made with -WakeOnLan go (default: the broadcast address of each host's last reported network), "
                + "for networks whose routers forward a directed broadcast to one address.",
        };
        var wakePort = new Option<int>("--wake-port")
        {
            Description = "The UDP port of those packets (default 9).",
            DefaultValueFactory = _ => Protocol.Power.MagicPacket.DefaultPort,
        };
        var maxConnections = MaxConnectionsOption();
        var database = new Option<string?>("--database")
        {
            Description = "The database: a PostgreSQL connection string (\"Host=db1;Database=jp1dist;Username=jp1dist\"), recorded in the data "
                + "folder so that cmdlets on it and the next start use the same. Default: JP1DIST_DATABASE, else what the data folder "
                + "records, else the SQLite file in the data folder.",
        };
        var command = new Command("manager", "Runs the manager: the agent API, the scheduler and the status store.") { listen, home, adminLimit, auditRetention, wakeAddress, wakePort, maxConnections, database };
        tls.AddTo(command);
        command.SetAction(async (result, cancellationToken) =>
        {
            var url = result.GetValue(listen)!;
            if (!IsHttpUrl(url, out _))
            {
                await Console.Error.WriteLineAsync($"jp1dist manager: '{url}' is not an http:// or https:// URL.");
                return CommandExitCodes.Usage;
            }
            if (result.GetValue(maxConnections) is < 1)
            {
                await Console.Error.WriteLineAsync($"jp1dist manager: --max-connections must be at least 1; {result.GetValue(maxConnections)} was given.");
                return CommandExitCodes.Usage;
            }
            if (result.GetValue(adminLimit) < 1)
            {
                await Console.Error.WriteLineAsync($"jp1dist manager: --admin-requests-per-minute must be at least 1; {result.GetValue(adminLimit)} was given.");
                return CommandExitCodes.Usage;
            }
            if (result.GetValue(auditRetention) < AuditRetention.Minimum.TotalDays)
            {
                await Console.Error.WriteLineAsync($"jp1dist manager: --audit-retention-days must be at least {AuditRetention.Minimum.TotalDays:0}; {result.GetValue(auditRetention)} was given.");
                return CommandExitCodes.Usage;
            }
            if (result.GetValue(wakePort) is < 1 or > 65535)
            {
                await Console.Error.WriteLineAsync($"jp1dist manager: --wake-port {result.GetValue(wakePort)} is out of range: use 1 to 65535.");
                return CommandExitCodes.Usage;
            }
            System.Net.IPAddress? wakeTo = null;
            if (result.GetValue(wakeAddress) is { } wakeText && !System.Net.IPAddress.TryParse(wakeText, out wakeTo))
            {
                await Console.Error.WriteLineAsync($"jp1dist manager: --wake-address '{wakeText}' is not an IP address.");
                return CommandExitCodes.Usage;
            }
            string? databaseSetting = null;
            if (result.GetValue(database) is { } databaseText)
            {
                try
                {
                    databaseSetting = Core.Storage.DatabaseSettings.Parse(databaseText, "--database").ConnectionString;
                }
                catch (ArgumentException e)
                {
                    await Console.Error.WriteLineAsync($"jp1dist manager: {e.Message}");
                    return CommandExitCodes.Usage;
                }
            }
            var options = new ManagerOptions
            {
                ListenUrl = url, Home = result.GetValue(home), Database = databaseSetting, Tls = tls.Read(result), AdminRequestsPerMinute = result.GetValue(adminLimit),
                AuditRetention = TimeSpan.FromDays(result.GetValue(auditRetention)), WakeAddress = wakeTo, WakePort = result.GetValue(wakePort),
                MaxConnections = result.GetValue(maxConnections),
            };
            return await RunServerAsync("manager", url, () => ManagerHost.Build(options), cancellationToken);
        });
        return command;
    }

    /// <summary>--max-connections of a serving node, and its check (at least 1).</summary>
    private static Option<int?> MaxConnectionsOption() => new("--max-connections")
    {
        Description = "The most client connections served at once; more are closed at once and their agents come back later "
            + "(jp1dist_connections_shed_total). Default: the process's file-descriptor limit, raised to its hard limit, less "
            + $"{JP1Dist.Server.Serving.ConnectionBudget.Reserve} kept for the database, logs and content.",
    };

    private static Command Relay()
    {
        var manager = HigherSystemOption("the manager or another relay");
        var token = TokenOption("relay");
        var tokenFile = TokenFileOption();
        var pin = PinOption();
        var listen = new Option<string>("--listen")
        {
            Description = "The URL lower clients reach this relay on (port 0 picks a free port). https:// serves TLS with a certificate the manager "
                + "issues for the relay's own key once it has registered (its own self-created certificate until then), or --certificate; plain http:// "
                + "only on loopback unless --allow-insecure-http.",
            Required = true,
        };
        var name = new Option<string?>("--name") { Description = "The host name to register under (default: the computer name)." };
        var state = new Option<string?>("--state") { Description = "The relay's state folder (default: per-user application data)." };
        var tls = new TlsOptions("relay");
        var power = new PowerOptions("relay");
        var maxConnections = MaxConnectionsOption();
        var command = new Command("relay", "Runs a relay: serves lower clients with the agent API, caches packages, passes results upward.") { manager, token, tokenFile, pin, listen, name, state, maxConnections };
        tls.AddTo(command);
        power.AddTo(command);
        command.SetAction(async (result, cancellationToken) =>
        {
            if (HigherSystems.Parse(result.GetValue(manager), out var higherError) is not { } higher)
            {
                await Console.Error.WriteLineAsync($"jp1dist relay: --manager: {higherError}");
                return CommandExitCodes.Usage;
            }
            var url = result.GetValue(listen)!;
            if (!IsHttpUrl(url, out _))
            {
                await Console.Error.WriteLineAsync($"jp1dist relay: '{url}' is not an http:// or https:// URL to listen on.");
                return CommandExitCodes.Usage;
            }
            if (!TryReadTrust("relay", result, token, tokenFile, pin, out var tokenText, out var pinText))
            {
                return CommandExitCodes.Usage;
            }
            if (await power.ReadAsync(result) is not { } powerCommands)
            {
                return CommandExitCodes.Usage;
            }
            if (result.GetValue(maxConnections) is < 1)
            {
                await Console.Error.WriteLineAsync($"jp1dist relay: --max-connections must be at least 1; {result.GetValue(maxConnections)} was given.");
                return CommandExitCodes.Usage;
            }
            var relayName = result.GetValue(name) ?? Environment.MachineName;
            var options = new RelayOptions
            {
                HigherSystemUrl = higher[0],
                FailoverUrls = higher.Skip(1).ToList(),
                Token = tokenText,
                CertificatePin = pinText,
                ListenUrl = url,
                Name = relayName,
                StateFolder = result.GetValue(state) ?? RelayOptions.DefaultStateFolder(relayName),
                Tls = tls.Read(result),
                InstallWrapper = InstallWrapper.ForThisProgram(),
                Power = powerCommands,
                MaxConnections = result.GetValue(maxConnections),
            };
            return await RunServerAsync("relay", url, () => RelayHost.Build(options), cancellationToken);
        });
        return command;
    }

    /// <summary>The options every serving node takes for its certificate and the plain-HTTP rule.</summary>
    private sealed class TlsOptions(string role)
    {
        private readonly Option<string?> _certificate = new("--certificate")
        {
            Description = $"A certificate for an https:// listener instead of the {role}'s own: a PFX (.pfx, .p12) or PEM file, with the private key "
                + "in the same file or in --certificate-key.",
        };
        private readonly Option<string?> _key = new("--certificate-key") { Description = "The PEM private key of --certificate, when it is in a file of its own." };
        private readonly Option<string?> _password = new("--certificate-password")
        {
            Description = $"The password of the PFX or of an encrypted PEM key. Arguments are visible to other users: prefer the {NodeTlsOptions.PasswordVariable} environment variable.",
        };
        private readonly Option<bool> _insecure = new(PlainHttp.AllowSwitch)
        {
            Description = "Allow plain http:// beyond loopback (to listen" + (role == "relay" ? ", and to connect to the higher system" : "")
                + "): tokens, credentials and packages then cross the network unencrypted. Logged as a warning at start.",
        };

        public void AddTo(Command command)
        {
            command.Options.Add(_certificate);
            command.Options.Add(_key);
            command.Options.Add(_password);
            command.Options.Add(_insecure);
        }

        /// <summary>The options given; the password from the environment when not given, then removed so install commands do not inherit it.</summary>
        public NodeTlsOptions Read(ParseResult result)
        {
            var password = result.GetValue(_password);
            if (string.IsNullOrEmpty(password))
            {
                password = Environment.GetEnvironmentVariable(NodeTlsOptions.PasswordVariable);
            }
            Environment.SetEnvironmentVariable(NodeTlsOptions.PasswordVariable, null);
            return new NodeTlsOptions
            {
                CertificatePath = result.GetValue(_certificate),
                KeyPath = result.GetValue(_key),
                Password = password,
                AllowInsecureHttp = result.GetValue(_insecure),
            };
        }
    }

    /// <summary>The longest --once-timeout accepts (ten minutes: as long as Windows waits for a startup script by default).</summary>
    private const int MaxOnceTimeoutSeconds = 600;

    /// <summary>
    /// The power options of a node that runs an agent's power actions, the agent and the relay's own client role alike
    /// (one set of options, one check, read into one <see cref="PowerCommands"/>).
    /// </summary>
    private sealed class PowerOptions(string role)
    {
        private readonly Option<string?> _rebootCommand = new("--reboot-command")
        {
            Description = "The program that restarts this computer when a job asks for it (New-DistJob -RebootAfter, after an install ended with a reboot "
                + "code). Default: the operating system's restart (shutdown.exe /r on Windows, systemctl reboot or shutdown -r now elsewhere).",
        };
        private readonly Option<string[]> _rebootArguments = new("--reboot-arguments")
        {
            Description = "Arguments for --reboot-command (each its own argument; no shell in between).",
            AllowMultipleArgumentsPerToken = true,
        };
        private readonly Option<string?> _shutdownCommand = new("--shutdown-command")
        {
            Description = "The program that shuts this computer down when a job asks for it (New-DistJob -ShutdownAfter, once its install ended) or the "
                + "manager orders it (Stop-DistHost). Default: the operating system's shutdown (shutdown.exe /s on Windows, systemctl poweroff or shutdown -h now elsewhere).",
        };
        private readonly Option<string[]> _shutdownArguments = new("--shutdown-arguments")
        {
            Description = "Arguments for --shutdown-command (each its own argument; no shell in between).",
            AllowMultipleArgumentsPerToken = true,
        };
        private readonly Option<int> _grace = new("--reboot-grace-seconds", "--power-grace-seconds")
        {
            Description = $"How long to wait, once a restart or shutdown was asked and no install or transfer runs, before running its command (0 to {MaxRebootGraceSeconds}; default {PowerActions.DefaultGrace.TotalSeconds:0}).",
            DefaultValueFactory = _ => (int)PowerActions.DefaultGrace.TotalSeconds,
        };

        public void AddTo(Command command)
        {
            command.Options.Add(_rebootCommand);
            command.Options.Add(_rebootArguments);
            command.Options.Add(_shutdownCommand);
            command.Options.Add(_shutdownArguments);
            command.Options.Add(_grace);
        }

        /// <summary>The options given; null, with what is wrong on stderr, when they do not fit together.</summary>
        public async Task<PowerCommands?> ReadAsync(ParseResult result)
        {
            var grace = result.GetValue(_grace);
            if (grace is < 0 or > MaxRebootGraceSeconds)
            {
                await Console.Error.WriteLineAsync($"jp1dist {role}: --reboot-grace-seconds {grace} is out of range: use 0 to {MaxRebootGraceSeconds}.");
                return null;
            }
            if (result.GetValue(_rebootArguments) is { Length: > 0 } && string.IsNullOrWhiteSpace(result.GetValue(_rebootCommand)))
            {
                await Console.Error.WriteLineAsync($"jp1dist {role}: --reboot-arguments needs --reboot-command.");
                return null;
            }
            if (result.GetValue(_shutdownArguments) is { Length: > 0 } && string.IsNullOrWhiteSpace(result.GetValue(_shutdownCommand)))
            {
                await Console.Error.WriteLineAsync($"jp1dist {role}: --shutdown-arguments needs --shutdown-command.");
                return null;
            }
            return new PowerCommands(result.GetValue(_rebootCommand), result.GetValue(_rebootArguments) ?? [], result.GetValue(_shutdownCommand),
                result.GetValue(_shutdownArguments) ?? [], TimeSpan.FromSeconds(grace));
        }
    }

    /// <summary>The longest grace --reboot-grace-seconds accepts (an hour).</summary>
    private const int MaxRebootGraceSeconds = 3600;

    /// <summary>--manager: the higher system, or several in order of preference (the later ones stand in while the first cannot serve).</summary>
    private static Option<string> HigherSystemOption(string what) => new("--manager")
    {
        Description = $"The URL of the higher system ({what}), or several separated by commas in order of preference (at most {HigherSystems.MaxCount}): "
            + "while the one in use cannot be reached or cannot serve, the next is tried (with a jittered back-off), and after "
            + $"{HigherSystems.DefaultReturnAfter.TotalMinutes:0} minutes on a later one the first is tried again. Each is held to the same trust "
            + "(the pin, or a relay certificate issued by the manager's signing key). Example: --manager https://relay1:22401,https://manager:22400",
        Required = true,
    };

    private static Option<string?> TokenOption(string role) => new("--token")
    {
        Description = $"The enrollment token for the {role}'s first registration (New-DistEnrollmentToken). Visible in the process list: "
            + $"prefer --token-file or the {TokenSource.Variable} environment variable. Precedence: --token, --token-file, {TokenSource.Variable}.",
    };

    private static Option<string?> TokenFileOption() => new("--token-file")
    {
        Description = $"A file holding the enrollment token (used when --token is not given; before {TokenSource.Variable}).",
    };

    private static Option<string?> PinOption() => new("--certificate-pin")
    {
        Description = "The pin of the higher system's certificate (64 hex digits, the SHA-256 of its public key; Get-DistManager shows a manager's). "
            + "Overrides the pin in the token. A relay's certificate issued by the manager needs no pin: the token's signing key vouches for it. "
            + "Otherwise, without a pin, an https:// higher system is checked against the system's trusted certificates.",
    };

    /// <summary>
    /// Reads the token (--token, --token-file, JP1DIST_TOKEN) and --certificate-pin; false, with the reason on stderr, when
    /// either is unusable. The variable is removed from this process once read, so install commands do not inherit it.
    /// </summary>
    private static bool TryReadTrust(string role, ParseResult result, Option<string?> token, Option<string?> tokenFile, Option<string?> pin,
        out string? tokenText, out string? pinText)
    {
        tokenText = TokenSource.Resolve(result.GetValue(token), result.GetValue(tokenFile), Environment.GetEnvironmentVariable, out var error);
        Environment.SetEnvironmentVariable(TokenSource.Variable, null);
        pinText = null;
        if (error is not null)
        {
            Console.Error.WriteLine($"jp1dist {role}: {error}");
            return false;
        }
        if (result.GetValue(pin) is { } given)
        {
            pinText = Fingerprints.Normalize(given);
            if (pinText is null)
            {
                Console.Error.WriteLine($"jp1dist {role}: '{given}' is not a certificate pin: expected 64 hex digits, the SHA-256 of the certificate's public key.");
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Builds and runs a manager or relay until stopped: 2 when its options are refused before anything is bound (an insecure
    /// or invalid listener, an unusable certificate), 1 when it cannot listen, else the exit code its services set (0 normally).
    /// </summary>
    private static async Task<int> RunServerAsync(string role, string url, Func<WebApplication> build, CancellationToken cancellationToken)
    {
        WebApplication app;
        try
        {
            app = build();
        }
        catch (DistException e)
        {
            await Console.Error.WriteLineAsync(e.Message.StartsWith("jp1dist ", StringComparison.Ordinal) ? e.Message : $"jp1dist {role}: {e.Message}");
            return CommandExitCodes.Usage;
        }
        try
        {
            await app.RunAsync(cancellationToken);
            return Environment.ExitCode;
        }
        catch (IOException e)
        {
            await Console.Error.WriteLineAsync($"jp1dist {role}: cannot listen on {url}: {e.Message}");
            return CommandExitCodes.Failed;
        }
        finally
        {
            await app.DisposeAsync();
        }
    }

    private static bool IsHttpUrl(string text, out Uri uri) =>
        Uri.TryCreate(text, UriKind.Absolute, out uri!) && (uri.Scheme == "http" || uri.Scheme == "https");

    private static Command Agent()
    {
        var manager = HigherSystemOption("the manager or a relay");
        var token = TokenOption("agent");
        var tokenFile = TokenFileOption();
        var pin = PinOption();
        var name = new Option<string?>("--name") { Description = "The host name to register under (default: the computer name)." };
        var state = new Option<string?>("--state") { Description = "The agent's state folder (default: per-user application data)." };
        var once = new Option<bool>("--once")
        {
            Description = $"Do all pending work, then exit (for startup scripts and schedulers). Exit codes: {CommandExitCodes.Success} all work done, "
                + $"{CommandExitCodes.Failed} an install failed (others may have succeeded), {CommandExitCodes.RebootRequired} a restart is needed "
                + $"(194 on Linux and macOS), {CommandExitCodes.Unavailable} the higher system could not be reached or did not answer (try later), "
                + $"{CommandExitCodes.CredentialRevoked} credential revoked, {CommandExitCodes.EnrollmentRefused} enrollment refused, "
                + $"{CommandExitCodes.Usage} usage error; which wins when several apply: docs/operations.md, \"Exit codes\".",
        };
        var onceTimeout = new Option<int?>("--once-timeout")
        {
            Description = $"With --once: how many seconds to wait for the higher system to answer a request (or to send the next bytes of a package), "
                + $"1 to {MaxOnceTimeoutSeconds}; default {AgentOptions.DefaultOnceTimeout.TotalSeconds:0}. A higher system silent that long is not asked "
                + $"again in this run (the next --manager URL is), and the run ends with {CommandExitCodes.Unavailable}.",
        };
        var insecure = new Option<bool>(PlainHttp.AllowSwitch)
        {
            Description = "Allow a plain http:// higher system beyond loopback: the token, the credential and packages then cross the network unencrypted. Logged as a warning.",
        };
        var power = new PowerOptions("agent");
        var command = new Command("agent", "Runs an agent: registers, receives work, installs and reports; with --once, does the work there is and exits with a documented code.")
        {
            manager, token, tokenFile, pin, name, state, once, onceTimeout, insecure,
        };
        power.AddTo(command);
        command.SetAction(async (result, cancellationToken) =>
        {
            if (HigherSystems.Parse(result.GetValue(manager), out var higherError) is not { } higher)
            {
                await Console.Error.WriteLineAsync($"jp1dist agent: --manager: {higherError}");
                return CommandExitCodes.Usage;
            }
            foreach (var url in higher)
            {
                if (PlainHttp.ConnectRefusal("agent", url, result.GetValue(insecure)) is { } refusal)
                {
                    await Console.Error.WriteLineAsync(refusal);
                    return CommandExitCodes.Usage;
                }
            }
            if (!TryReadTrust("agent", result, token, tokenFile, pin, out var tokenText, out var pinText))
            {
                return CommandExitCodes.Usage;
            }
            if (await power.ReadAsync(result) is not { } powerCommands)
            {
                return CommandExitCodes.Usage;
            }
            var answerWait = result.GetValue(onceTimeout);
            if (answerWait is not null && !result.GetValue(once))
            {
                await Console.Error.WriteLineAsync("jp1dist agent: --once-timeout needs --once (a running agent keeps each request's own deadline).");
                return CommandExitCodes.Usage;
            }
            if (answerWait is < 1 or > MaxOnceTimeoutSeconds)
            {
                await Console.Error.WriteLineAsync($"jp1dist agent: --once-timeout {answerWait} is out of range: use 1 to {MaxOnceTimeoutSeconds} seconds.");
                return CommandExitCodes.Usage;
            }
            var hostName = result.GetValue(name) ?? Environment.MachineName;
            var options = new AgentOptions
            {
                ManagerUrl = higher[0],
                FailoverUrls = higher.Skip(1).ToList(),
                Token = tokenText,
                CertificatePin = pinText,
                AllowInsecureHttp = result.GetValue(insecure),
                Name = hostName,
                StateFolder = result.GetValue(state) ?? AgentOptions.DefaultStateFolder(hostName),
                Once = result.GetValue(once),
                OnceTimeout = answerWait is { } seconds ? TimeSpan.FromSeconds(seconds) : AgentOptions.DefaultOnceTimeout,
                InstallWrapper = InstallWrapper.ForThisProgram(),
            };
            powerCommands.ApplyTo(options);
            var store = new AgentStateStore(options.StateFolder);
            using var logger = DistLogging.Create(store.LogsFolder, "agent");
            foreach (var url in higher.Where(PlainHttp.IsInsecure))
            {
                logger.Warning("{Warning}", PlainHttp.Warning(url));
            }
            if (options.Once)
            {
                using var factory = new SerilogLoggerFactory(logger);
                using var runtime = new AgentRuntime(options, factory.CreateLogger("JP1Dist.Agent"));
                return await OnceRun.RunAsync(runtime, factory.CreateLogger("JP1Dist.Agent"), cancellationToken);
            }
            // The agent reads no appsettings.json: do not watch the working directory for one (recursively, and as a
            // service that directory can be / or System32).
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
            builder.Services.AddSystemd();
            builder.Services.AddWindowsService(service => service.ServiceName = "JP1Dist Agent");
            // After the service integrations, as a node's host does (DistLogging.UseSerilogOnly); the logger is disposed here, not by the host.
            builder.Logging.UseSerilogOnly(logger, dispose: false);
            builder.Services.AddSingleton(options);
            builder.Services.AddHostedService<AgentWorker>();
            builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(30));
            using var host = builder.Build();
            await host.RunAsync(cancellationToken);
            return Environment.ExitCode;
        });
        return command;
    }

    /// <summary>jp1dist offline: installs from offline media on a computer the network does not reach.</summary>
    private static Command Offline()
    {
        var media = new Option<string>("--media") { Description = "The folder (or .zip) Export-DistOfflineMedia wrote.", Required = true };
        var state = new Option<string?>("--state") { Description = "This computer's agent state folder (default: per-user application data)." };
        var name = new Option<string?>("--name") { Description = "This computer's host name (default: the computer name)." };
        var anyHost = new Option<bool>("--any-host") { Description = "Install even though the media were made for another host." };
        var signingKey = new Option<string?>("--signing-key")
        {
            Description = "The fingerprint of the manager's signing key (Get-DistSigningKey), for a computer whose state has none pinned.",
        };
        var command = new Command("offline", "Installs from offline media: checks every signature and hash and the install conditions, installs, and writes a signed result into the media.")
        {
            media, state, name, anyHost, signingKey,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            var hostName = result.GetValue(name) ?? Environment.MachineName;
            var options = new OfflineOptions(result.GetValue(media)!, result.GetValue(state) ?? AgentOptions.DefaultStateFolder(hostName), hostName,
                result.GetValue(anyHost), result.GetValue(signingKey), InstallWrapper.ForThisProgram());
            var store = new AgentStateStore(options.StateFolder);
            using var logger = DistLogging.Create(store.LogsFolder, "offline");
            using var factory = new SerilogLoggerFactory(logger);
            try
            {
                var outcome = await OfflineInstall.RunAsync(options, factory.CreateLogger("JP1Dist.Offline"), TimeProvider.System, cancellationToken);
                if (outcome.ExitCode == OfflineInstall.Refused)
                {
                    logger.Error("{Message}", outcome.Message);
                }
                await (outcome.ExitCode == OfflineInstall.Succeeded ? Console.Out : Console.Error).WriteLineAsync(outcome.Message);
                return outcome.ExitCode;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or LocalFaultException or InvalidDataException)
            {
                logger.Error("{Message}", e.Message);
                await Console.Error.WriteLineAsync($"jp1dist offline: {e.Message}");
                return OfflineInstall.Refused;
            }
            catch (OperationCanceledException)
            {
                return CommandExitCodes.Canceled;
            }
        });
        return command;
    }

    /// <summary>The options of the user's commands: which agent's state (by state folder, or by host name for the default folder).</summary>
    private static (Option<string?> State, Option<string?> Name) UserStateOptions() => (
        new Option<string?>("--state") { Description = "This computer's agent state folder (default: per-user application data of the host name)." },
        new Option<string?>("--name") { Description = "This computer's host name, for the default state folder (default: the computer name)." });

    /// <summary>
    /// The runtime of the agent whose state folder <paramref name="folder"/> is, to act for its user with its identity and
    /// credential (the higher system it registered with, the pin it holds); null, with the reason on stderr, when that folder
    /// holds no registered agent.
    /// </summary>
    private static AgentRuntime? UserRuntime(string role, string folder, bool allowInsecureHttp, Microsoft.Extensions.Logging.ILogger logger)
    {
        var store = new AgentStateStore(folder);
        if (store.LoadIdentity() is not { } identity)
        {
            Console.Error.WriteLine($"jp1dist {role}: no agent is registered with the state folder '{store.Folder}' (it holds no agent.json); "
                + "start the agent first (jp1dist agent --manager URL --token TOKEN), or name its folder with --state.");
            return null;
        }
        foreach (var url in (IEnumerable<Uri>)[identity.ManagerUrl, .. identity.FailoverUrls ?? []])
        {
            if (PlainHttp.ConnectRefusal(role, url, allowInsecureHttp) is { } refusal)
            {
                Console.Error.WriteLine(refusal);
                return null;
            }
        }
        return new AgentRuntime(new AgentOptions
        {
            ManagerUrl = identity.ManagerUrl,
            // The stand-ins the agent was last started with: the user's install fails over as the agent would.
            FailoverUrls = identity.FailoverUrls ?? [],
            Name = identity.Name,
            StateFolder = store.Folder,
            AllowInsecureHttp = allowInsecureHttp,
            InstallWrapper = InstallWrapper.ForThisProgram(),
        }, logger);
    }

    /// <summary>jp1dist available: lists the packages offered to this computer's user (user-choice jobs).</summary>
    private static Command Available()
    {
        var (state, name) = UserStateOptions();
        var command = new Command("available", "Lists the packages offered to this computer's user (user-choice jobs): name, version, size, whether installed, description.")
        {
            state, name,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            var folder = result.GetValue(state) ?? AgentOptions.DefaultStateFolder(result.GetValue(name) ?? Environment.MachineName);
            IReadOnlyList<AvailablePackage> offered;
            if (await LocalChannelClient.AskAsync(folder, new LocalRequest(LocalChannelOps.List), cancellationToken) is { } answer)
            {
                offered = answer.Available ?? [];
            }
            else
            {
                using var runtime = UserRuntime("available", folder, allowInsecureHttp: true, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
                if (runtime is null)
                {
                    return CommandExitCodes.Usage;
                }
                offered = runtime.ListAvailable();
            }
            if (offered.Count == 0)
            {
                await Console.Out.WriteLineAsync("No package is available on this computer.");
                return CommandExitCodes.Success;
            }
            string[] header = ["Name", "Version", "Size", "Installed", "Description"];
            var rows = offered.Select(p => new[] { p.Name, p.Version, LocalFault.FormatBytes(p.SizeBytes), p.Installed ? "Yes" : "No", p.Description ?? "" }).ToList();
            var widths = header.Select((h, i) => rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
            foreach (var row in rows.Prepend(header))
            {
                await Console.Out.WriteLineAsync(string.Join("  ", row.Select((cell, i) => i == row.Length - 1 ? cell : cell.PadRight(widths[i]))).TrimEnd());
            }
            return CommandExitCodes.Success;
        });
        return command;
    }

    /// <summary>Exit code of jp1dist install when the request is refused before anything is done (bad input, nothing by that name).</summary>
    private const int UserInstallRefused = CommandExitCodes.Usage;

    /// <summary>jp1dist install: installs one package offered to this computer's user, waits, and ends with its outcome.</summary>
    private static Command Install()
    {
        var package = new Argument<string>("name") { Description = "The name of an available package (jp1dist available lists them)." };
        var version = new Option<string?>("--version") { Description = "The version to install, when several are available (default: the newest)." };
        var (state, name) = UserStateOptions();
        var insecure = new Option<bool>(PlainHttp.AllowSwitch)
        {
            Description = "Allow the agent's plain http:// higher system beyond loopback (as the agent was started with).",
        };
        var command = new Command("install", "Installs a package offered to this computer's user: downloads it from the agent's higher system, checks its "
            + "signatures, hashes and install conditions, installs it, reports the result to the manager, and exits 0 when it installed.")
        {
            package, version, state, name, insecure,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            var folder = result.GetValue(state) ?? AgentOptions.DefaultStateFolder(result.GetValue(name) ?? Environment.MachineName);
            // The running agent does it when there is one; otherwise this process does, with the agent's state.
            LocalResponse? answer;
            try
            {
                answer = await LocalChannelClient.AskAsync(folder, new LocalRequest(LocalChannelOps.Install, result.GetValue(package), result.GetValue(version)), cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return CommandExitCodes.Canceled;
            }
            catch (IOException e)
            {
                await Console.Error.WriteLineAsync($"jp1dist install: the running agent did not answer: {e.Message}");
                return CommandExitCodes.Failed;
            }
            if (answer is not null)
            {
                if (answer.Refusal is not null || answer.Error is not null)
                {
                    await Console.Error.WriteLineAsync($"jp1dist install: {answer.Refusal ?? answer.Error}");
                    return answer.Refusal is not null ? UserInstallRefused : 1;
                }
                return await ShowOutcomeAsync(answer.Outcome!, " (installed by the running agent)");
            }
            var store = new AgentStateStore(folder);
            using var logger = DistLogging.Create(store.LogsFolder, "install");
            using var factory = new SerilogLoggerFactory(logger);
            using var runtime = UserRuntime("install", folder, result.GetValue(insecure), factory.CreateLogger("JP1Dist.Agent"));
            if (runtime is null)
            {
                return UserInstallRefused;
            }
            try
            {
                return await ShowOutcomeAsync(await runtime.InstallAvailableAsync(result.GetValue(package)!, result.GetValue(version), cancellationToken), "");
            }
            catch (ArgumentException e)
            {
                await Console.Error.WriteLineAsync($"jp1dist install: {e.Message}");
                return UserInstallRefused;
            }
            catch (OperationCanceledException)
            {
                return CommandExitCodes.Canceled;
            }
            catch (Exception e) when (e is InvalidOperationException or HigherSystemException or HttpRequestException or IOException
                or CertificatePinMismatchException or SigningKeyMismatchException or LocalFaultException or CredentialRevokedException)
            {
                logger.Error("{Message}", e.Message);
                await Console.Error.WriteLineAsync($"jp1dist install: {e.Message}");
                return CommandExitCodes.Failed;
            }
        });
        return command;
    }

    /// <summary>Prints a user's install's outcome and returns the exit code it means: 0 installed, 3010 restart needed, 1 not installed.</summary>
    private static async Task<int> ShowOutcomeAsync(UserInstallOutcome outcome, string by)
    {
        var code = outcome.ExitCode is { } exit ? $" (exit code {exit})" : "";
        var line = outcome.AlreadyInstalled
            ? outcome.Message
            : $"{outcome.Name} {outcome.Version}: {outcome.Status}{code}{by}. {outcome.Message}";
        await (outcome.Succeeded ? Console.Out : Console.Error).WriteLineAsync(line);
        return !outcome.Succeeded ? CommandExitCodes.Failed : outcome.Status == ReportStatuses.SucceededRebootRequired ? CommandExitCodes.RebootRequired : CommandExitCodes.Success;
    }

    private static Command Run()
    {
        var script = new Argument<string>("script") { Description = "The .ps1 script to run." };
        var arguments = new Argument<string[]>("arguments") { Description = "Arguments passed to the script.", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("run", "Runs a PowerShell script in the built-in PowerShell engine with the JP1Dist module loaded (no pwsh needed).") { script, arguments };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction((result, cancellationToken) =>
        {
            var passThrough = (result.GetValue(arguments) ?? []).Concat(result.UnmatchedTokens).ToList();
            return Task.FromResult(ScriptRunner.Run(result.GetValue(script)!, passThrough, cancellationToken));
        });
        return command;
    }
}
