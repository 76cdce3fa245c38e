using System.Diagnostics;
using System.Text.Json;
using JP1Dist.Server.Serving;
using Microsoft.Extensions.Logging.Abstractions;

namespace JP1Dist.Bench.Baseline;

/// <summary>
/// The simulated agents of a round, in as few client processes (this executable started again, <see cref="ClientProcess"/>)
/// as the limit on open files allows: each agent holds one connection to the manager, so one process holds at most its
/// descriptor limit less a reserve and the requests in flight. Every command goes to every process at once and the
/// fleet waits for all their answers; a process that fails or ends fails the command at once.
/// </summary>
public sealed class ClientFleet : IAsyncDisposable
{
    private readonly List<Client> _clients;

    private ClientFleet(List<Client> clients) => _clients = clients;

    /// <summary>How many processes hold the agents.</summary>
    public int Processes => _clients.Count;

    /// <summary>Their process ids.</summary>
    public IReadOnlyList<int> ProcessIds => _clients.Select(c => c.Process.Id).ToList();

    /// <summary>
    /// How many client processes <paramref name="agents"/> agents need: this process's raised descriptor limit (which its
    /// children share) less <see cref="ConnectionBudget.Reserve"/> and the requests in flight, per process.
    /// </summary>
    public static (int Processes, long? FileLimit) ProcessesFor(int agents, int parallelism)
    {
        var limit = ConnectionBudget.FileDescriptors.RaiseSoftLimit(NullLogger.Instance);
        if (limit is not { } soft)
        {
            return (1, null);
        }
        var perProcess = soft - ConnectionBudget.Reserve - parallelism;
        return perProcess < 1
            ? throw new InvalidOperationException($"This process may open only {soft} files and sockets; raise the limit (ulimit -n) to run simulated agents.")
            : ((int)Math.Ceiling(agents / (double)perProcess), soft);
    }

    /// <summary>Starts the processes, agents bench-N-00001 on split evenly among them, and waits until each has said its descriptor limit.</summary>
    public static async Task<ClientFleet> StartAsync(string managerUrl, int agentCount, int processes, string namePrefix, CancellationToken cancellationToken)
    {
        var clients = new List<Client>();
        var fleet = new ClientFleet(clients);
        try
        {
            var first = 1;
            for (var i = 0; i < processes; i++)
            {
                var count = agentCount / processes + (i < agentCount % processes ? 1 : 0);
                clients.Add(Client.Start(i + 1, managerUrl, namePrefix, first, count));
                first += count;
            }
            foreach (var client in clients)
            {
                var hello = await client.ReadAsync(cancellationToken);
                if (hello.FileLimit is { } limit && limit < client.Agents + ConnectionBudget.Reserve)
                {
                    throw new InvalidOperationException($"Client process {client.Number} may open only {limit} files and sockets, too few for its {client.Agents} agents.");
                }
            }
            return fleet;
        }
        catch
        {
            await fleet.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sends each process its command and returns every answer; throws the first error any of them answers.</summary>
    public async Task<IReadOnlyList<ClientReply>> SendAsync(Func<int, ClientCommand> command, CancellationToken cancellationToken)
    {
        var replies = new List<Task<ClientReply>>();
        for (var i = 0; i < _clients.Count; i++)
        {
            replies.Add(_clients[i].CallAsync(command(i), cancellationToken));
        }
        var pending = replies.ToList();
        while (pending.Count > 0)
        {
            var done = await Task.WhenAny(pending);
            pending.Remove(done);
            var reply = await done;
            if (reply.Error is not null)
            {
                var number = _clients[replies.IndexOf(done)].Number;
                throw new InvalidOperationException($"Client process {number}: {reply.Error}");
            }
        }
        return replies.Select(r => r.Result).ToList();
    }

    /// <summary>Splits <paramref name="total"/> among the processes, at least one each.</summary>
    public int Share(int total) => Math.Max(1, total / _clients.Count);

    /// <summary>Closes every process's input (they stop their agents and end), and kills any still running after 15 s.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            client.CloseInput();
        }
        foreach (var client in _clients)
        {
            await client.EndAsync(TimeSpan.FromSeconds(15));
        }
    }

    private sealed class Client
    {
        private Client(int number, Process process, int agents)
        {
            Number = number;
            Process = process;
            Agents = agents;
        }

        public int Number { get; }
        public Process Process { get; }
        public int Agents { get; }

        public static Client Start(int number, string managerUrl, string namePrefix, int first, int count)
        {
            var start = new ProcessStartInfo(Environment.ProcessPath ?? "dotnet")
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = false, // its rare messages go to the benchmark's progress
            };
            // Started as 'dotnet JP1Dist.Bench.Baseline.dll' rather than through the apphost: name the assembly again.
            if (string.Equals(Path.GetFileNameWithoutExtension(start.FileName), "dotnet", StringComparison.OrdinalIgnoreCase))
            {
                start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "JP1Dist.Bench.Baseline.dll"));
            }
            foreach (var argument in new[] { ClientCommands.Argument, managerUrl, namePrefix, first.ToString(System.Globalization.CultureInfo.InvariantCulture), count.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            {
                start.ArgumentList.Add(argument);
            }
            var process = Process.Start(start) ?? throw new InvalidOperationException($"Client process {number} did not start.");
            process.StandardInput.AutoFlush = true;
            return new Client(number, process, count);
        }

        public async Task<ClientReply> CallAsync(ClientCommand command, CancellationToken cancellationToken)
        {
            await Process.StandardInput.WriteLineAsync(JsonSerializer.Serialize(command, ClientCommands.Json).AsMemory(), cancellationToken);
            return await ReadAsync(cancellationToken);
        }

        public async Task<ClientReply> ReadAsync(CancellationToken cancellationToken)
        {
            var line = await Process.StandardOutput.ReadLineAsync(cancellationToken);
            if (line is null)
            {
                await Process.WaitForExitAsync(cancellationToken);
                throw new InvalidOperationException($"Client process {Number} ended with exit code {Process.ExitCode}.");
            }
            return JsonSerializer.Deserialize<ClientReply>(line, ClientCommands.Json)
                ?? throw new InvalidOperationException($"Client process {Number} answered '{line}'.");
        }

        public void CloseInput()
        {
            try
            {
                Process.StandardInput.Close();
            }
            catch (IOException)
            {
                // Already gone.
            }
        }

        public async Task EndAsync(TimeSpan timeout)
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
            }
            Process.Dispose();
        }
    }
}
