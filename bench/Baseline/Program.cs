using System.Globalization;
using System.Text.Json;
using JP1Dist.Bench.Baseline;

// The baseline benchmark: time from executing a job to its last result, for N simulated agents, against a ping reference.
// Progress goes to stderr; stdout carries only the JSON document and the one-line summary. Started with the hidden argument
// `client`, this executable is one of the client processes that hold the simulated agents (ClientProcess).

if (args is [ClientCommands.Argument, .. var clientArgs])
{
    return await ClientProcess.RunAsync(clientArgs);
}

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
// Killed politely (SIGTERM) as by Ctrl+C: the round stops its processes and deletes its folder before exiting.
using var terminate = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    stop.Cancel();
});

var rounds = new List<RoundResult>();
foreach (var agents in options.AgentCounts)
{
    rounds.Add(await BaselineRound.RunAsync(agents, options, Console.Error, stop.Token));
    if (stop.IsCancellationRequested)
    {
        break;
    }
}

#if DEBUG
const string build = "Debug";
#else
const string build = "Release";
#endif
var report = new BaselineReport("baseline: job to last result", BaselineRound.ManagerMode, build, options.Parallelism,
    (int)BaselineRound.LongPollWait.TotalSeconds, BaselineRound.PackageBytes, MachineInfo.Current(), rounds);
Console.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
Console.WriteLine("baseline: " + string.Join("; ", rounds.Select(Summarize)));
return rounds.All(r => r.Error is null) ? 0 : 1;

static string Summarize(RoundResult r) => r.Error is not null
    ? $"{r.Agents} agents FAILED ({r.Error})"
    : string.Create(CultureInfo.InvariantCulture, $"{r.Agents} agents {r.SecondsToLastResult:0.00} s (ping ref {r.ReferenceSeconds:0.00} s, x{r.Ratio:0.0})");
