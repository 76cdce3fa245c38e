using System.CommandLine;
using JP1Dist.Agent;
using JP1Dist.AgentHost.Scripting;
using JP1Dist.Core.Managers;
using JP1Dist.Server.Logging;
using JP1Dist.Server.Manager;
using JP1Dist.Server.Relay;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serilog;
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
        root.Subcommands.Add(Run());
        return root;
    }

    private static Command Manager()
    {
        var listen = new Option<string>("--listen") { Description = "The URL to listen on (port 0 picks a free port).", DefaultValueFactory = _ => ManagerOptions.DefaultListenUrl };
        var home = new Option<string?>("--home") { Description = "The data folder (default: $JP1DIST_HOME, else the application-data folder)." };
        var command = new Command("manager", "Runs the manager: the agent API, the scheduler and the status store.") { listen, home };
        command.SetAction(async (result, cancellationToken) =>
        {
            var url = result.GetValue(listen)!;
            if (!IsHttpUrl(url, out _))
            {
                await Console.Error.WriteLineAsync($"jp1dist manager: '{url}' is not an http:// or https:// URL.");
                return 2;
            }
            return await RunServerAsync("manager", url, ManagerHost.Build(new ManagerOptions { ListenUrl = url, Home = result.GetValue(home) }), cancellationToken);
        });
        return command;
    }

    private static Command Relay()
    {
        var manager = new Option<string>("--manager") { Description = "The URL of the higher system (the manager or another relay).", Required = true };
        var token = new Option<string?>("--token") { Description = "The enrollment token for the relay's first registration (New-DistEnrollmentToken)." };
        var listen = new Option<string>("--listen") { Description = "The URL lower clients reach this relay on (port 0 picks a free port).", Required = true };
        var name = new Option<string?>("--name") { Description = "The host name to register under (default: the computer name)." };
        var state = new Option<string?>("--state") { Description = "The relay's state folder (default: per-user application data)." };
        var command = new Command("relay", "Runs a relay: serves lower clients with the agent API, caches packages, passes results upward.") { manager, token, listen, name, state };
        command.SetAction(async (result, cancellationToken) =>
        {
            var higher = result.GetValue(manager)!;
            if (!IsHttpUrl(higher, out var higherUri))
            {
                await Console.Error.WriteLineAsync($"jp1dist relay: '{higher}' is not an http:// or https:// URL.");
                return 2;
            }
            var url = result.GetValue(listen)!;
            if (!IsHttpUrl(url, out _))
            {
                await Console.Error.WriteLineAsync($"jp1dist relay: '{url}' is not an http:// or https:// URL to listen on.");
                return 2;
            }
            var relayName = result.GetValue(name) ?? Environment.MachineName;
            var options = new RelayOptions
            {
                HigherSystemUrl = higherUri,
                Token = result.GetValue(token),
                ListenUrl = url,
                Name = relayName,
                StateFolder = result.GetValue(state) ?? RelayOptions.DefaultStateFolder(relayName),
            };
            return await RunServerAsync("relay", url, RelayHost.Build(options), cancellationToken);
        });
        return command;
    }

    /// <summary>Runs a manager or relay until stopped; 1 when it cannot listen, else the exit code its services set (0 normally).</summary>
    private static async Task<int> RunServerAsync(string role, string url, WebApplication app, CancellationToken cancellationToken)
    {
        try
        {
            await app.RunAsync(cancellationToken);
            return Environment.ExitCode;
        }
        catch (IOException e)
        {
            await Console.Error.WriteLineAsync($"jp1dist {role}: cannot listen on {url}: {e.Message}");
            return 1;
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
        var manager = new Option<string>("--manager") { Description = "The URL of the higher system (manager or relay).", Required = true };
        var token = new Option<string?>("--token") { Description = "The enrollment token for the first registration (New-DistEnrollmentToken)." };
        var name = new Option<string?>("--name") { Description = "The host name to register under (default: the computer name)." };
        var state = new Option<string?>("--state") { Description = "The agent's state folder (default: per-user application data)." };
        var once = new Option<bool>("--once") { Description = "Do all pending work, then exit (for startup scripts and schedulers)." };
        var command = new Command("agent", "Runs an agent: registers, receives work, installs and reports.") { manager, token, name, state, once };
        command.SetAction(async (result, cancellationToken) =>
        {
            var url = result.GetValue(manager)!;
            if (!IsHttpUrl(url, out var uri))
            {
                await Console.Error.WriteLineAsync($"jp1dist agent: '{url}' is not an http:// or https:// URL.");
                return 2;
            }
            var hostName = result.GetValue(name) ?? Environment.MachineName;
            var options = new AgentOptions
            {
                ManagerUrl = uri,
                Token = result.GetValue(token),
                Name = hostName,
                StateFolder = result.GetValue(state) ?? AgentOptions.DefaultStateFolder(hostName),
                Once = result.GetValue(once),
            };
            var store = new AgentStateStore(options.StateFolder);
            using var logger = DistLogging.Create(store.LogsFolder, "agent");
            if (options.Once)
            {
                using var factory = new SerilogLoggerFactory(logger);
                using var runtime = new AgentRuntime(options, factory.CreateLogger("JP1Dist.Agent"));
                try
                {
                    await runtime.RunOnceAsync(cancellationToken);
                    return 0;
                }
                catch (OperationCanceledException)
                {
                    return 130;
                }
                catch (Exception e) when (e is InvalidOperationException or HigherSystemException or HttpRequestException or IOException)
                {
                    logger.Error("{Message}", e.Message);
                    return 1;
                }
            }
            // The agent reads no appsettings.json: do not watch the working directory for one (recursively, and as a
            // service that directory can be / or System32).
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
            builder.Services.AddSerilog(logger);
            builder.Services.AddSystemd();
            builder.Services.AddWindowsService(service => service.ServiceName = "JP1Dist Agent");
            builder.Services.AddSingleton(options);
            builder.Services.AddHostedService<AgentWorker>();
            builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(30));
            using var host = builder.Build();
            await host.RunAsync(cancellationToken);
            return Environment.ExitCode;
        });
        return command;
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
