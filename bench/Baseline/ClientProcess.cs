using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;
using JP1Dist.Protocol;
using JP1Dist.Server.Serving;
using Microsoft.Extensions.Logging.Abstractions;

namespace JP1Dist.Bench.Baseline;

/// <summary>
/// The child side of <see cref="ClientFleet"/>: a process holding a share of the simulated agents, each with its own
/// connection to the manager, driven by commands on standard input. It ends when its input ends, so it never outlives
/// the benchmark, even one that was killed.
/// </summary>
public static class ClientProcess
{
    /// <summary>The arguments after <see cref="ClientCommands.Argument"/>: the manager's URL, the name prefix, the first agent's number and how many.</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        if (args.Count != 4 || !Uri.TryCreate(args[0], UriKind.Absolute, out var url) || !int.TryParse(args[2], out var first) || !int.TryParse(args[3], out var count))
        {
            await Console.Error.WriteLineAsync("usage: JP1Dist.Bench.Baseline client MANAGER_URL NAME_PREFIX FIRST COUNT (started by the benchmark itself)");
            return 2;
        }
        // One connection per agent: the soft limit on descriptors must be raised, as the manager raises its own.
        var fileLimit = ConnectionBudget.FileDescriptors.RaiseSoftLimit(NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var output = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = true };
        var commands = Channel.CreateUnbounded<ClientCommand>();
        var reader = Task.Run(async () =>
        {
            using var input = new StreamReader(Console.OpenStandardInput());
            while (await input.ReadLineAsync() is { } line)
            {
                await commands.Writer.WriteAsync(JsonSerializer.Deserialize<ClientCommand>(line, ClientCommands.Json)!);
            }
            // The benchmark ended or closed our input: stop whatever is running.
            commands.Writer.Complete();
            await stop.CancelAsync();
        });

        using var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(10),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
            MaxConnectionsPerServer = int.MaxValue,
        };
        using var http = new HttpClient(handler, disposeHandler: false) { BaseAddress = url, Timeout = Timeout.InfiniteTimeSpan };
        var agents = Enumerable.Range(first, count).Select(i => new SimulatedAgent(http, $"{args[1]}{i:D5}")).ToList();
        using var state = new State(agents, http);
        await WriteAsync(output, new ClientReply(FileLimit: fileLimit));
        try
        {
            await foreach (var command in commands.Reader.ReadAllAsync(stop.Token))
            {
                ClientReply reply;
                try
                {
                    reply = await state.RunAsync(command, stop.Token);
                }
                catch (Exception e) when (!stop.IsCancellationRequested)
                {
                    reply = new ClientReply(Error: $"{e.GetType().Name}: {e.Message}");
                }
                reply = reply with { ThreadPoolThreadsMax = state.ThreadsMax };
                await WriteAsync(output, reply);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        await state.StopAsync();
        await reader;
        return 0;
    }

    private static Task WriteAsync(StreamWriter output, ClientReply reply) =>
        output.WriteLineAsync(JsonSerializer.Serialize(reply, ClientCommands.Json));

    private sealed class State(List<SimulatedAgent> agents, HttpClient http) : IDisposable
    {
        private readonly CancellationTokenSource _agentsStop = new();
        private readonly RequestCounters _job = new();
        private readonly List<Task> _tasks = [];
        private SemaphoreSlim? _gate;
        private int _pollsSent;
        private long _firstWorkTicks = -1;
        private RequestBreakdown _atMark = RequestBreakdown.Sum([]);

        public int ThreadsMax { get; private set; } = ThreadPool.ThreadCount;

        public async Task<ClientReply> RunAsync(ClientCommand command, CancellationToken cancellationToken)
        {
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, command.Parallelism), CancellationToken = cancellationToken };
            var counters = new RequestCounters();
            var clock = Stopwatch.StartNew();
            switch (command.Command)
            {
                case ClientCommands.Register:
                    await Parallel.ForEachAsync(agents, parallel, (agent, ct) => new ValueTask(agent.RegisterAsync(command.Token!, counters, ct)));
                    break;
                case ClientCommands.Poll:
                    await Parallel.ForEachAsync(agents, parallel, async (agent, ct) => await agent.PollAsync(TimeSpan.Zero, counters, ct));
                    break;
                case ClientCommands.Listen:
                    // A new job: the agents of the one before are done (Finish), each listens again.
                    _tasks.Clear();
                    _pollsSent = 0;
                    _firstWorkTicks = -1;
                    _gate?.Dispose();
                    _gate = new SemaphoreSlim(Math.Max(1, command.Parallelism));
                    foreach (var agent in agents)
                    {
                        _tasks.Add(agent.RunJobAsync(BaselineRound.LongPollWait, _gate, _job,
                            () => Interlocked.Increment(ref _pollsSent),
                            () => Interlocked.CompareExchange(ref _firstWorkTicks, DateTime.UtcNow.Ticks, -1),
                            _agentsStop.Token));
                    }
                    while (Volatile.Read(ref _pollsSent) < agents.Count)
                    {
                        ThreadsMax = Math.Max(ThreadsMax, ThreadPool.ThreadCount);
                        await Task.Delay(50, cancellationToken);
                    }
                    break;
                case ClientCommands.Mark:
                    _atMark = RequestBreakdown.From(_job);
                    break;
                case ClientCommands.Finish:
                    var all = Task.WhenAll(_tasks);
                    while (!all.IsCompleted)
                    {
                        ThreadsMax = Math.Max(ThreadsMax, ThreadPool.ThreadCount);
                        if (_tasks.FirstOrDefault(t => t.IsFaulted) is { } faulted)
                        {
                            await faulted; // the first agent's error, not the wait for the others
                        }
                        await Task.WhenAny(all, Task.Delay(100, cancellationToken));
                        cancellationToken.ThrowIfCancellationRequested();
                    }
                    await all;
                    var first = Interlocked.Read(ref _firstWorkTicks);
                    var requests = RequestBreakdown.From(_job).Minus(_atMark);
                    return new ClientReply(Retries: requests.Retries, Requests: requests,
                        FirstWorkAt: first < 0 ? null : new DateTime(first, DateTimeKind.Utc));
                case ClientCommands.Ping:
                    await Parallel.ForEachAsync(LongRange(command.Count), parallel, async (_, ct) =>
                    {
                        using var response = await http.GetAsync(ApiPaths.Ping, ct);
                        response.EnsureSuccessStatusCode();
                        await response.Content.ReadAsByteArrayAsync(ct);
                    });
                    break;
                default:
                    throw new ArgumentException($"Unknown command '{command.Command}'.");
            }
            ThreadsMax = Math.Max(ThreadsMax, ThreadPool.ThreadCount);
            return new ClientReply(Retries: counters.Retries, Seconds: clock.Elapsed.TotalSeconds);
        }

        public async Task StopAsync()
        {
            await _agentsStop.CancelAsync();
            try
            {
                await Task.WhenAll(_tasks).WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (Exception)
            {
                // Canceled or failed agents: a failure was already answered to the benchmark.
            }
        }

        public void Dispose()
        {
            _agentsStop.Dispose();
            _gate?.Dispose();
        }

        private static IEnumerable<long> LongRange(long count)
        {
            for (long i = 0; i < count; i++)
            {
                yield return i;
            }
        }
    }
}
