using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using JP1Dist.Bench.Soak;

// The soak: a manager and a relay killed and started again at random while jobs run for N agents, all jp1dist processes
// on 127.0.0.1; then every target must be final, each install must have run once, and every result must be the one the
// agent ran. Progress goes to stderr; stdout carries only the JSON document and the one-line summary.

SoakOptions options;
try
{
    options = SoakOptions.Parse(args);
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
// SIGTERM and SIGHUP stop the run the same way, so every child is killed and the folder removed.
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
using var hangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, Stop);

#if DEBUG
const string build = "Debug";
#else
const string build = "Release";
#endif
var report = await SoakRun.RunAsync(options, build, Console.Error, stop.Token);
Console.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions(JsonSerializerDefaults.Web)
{
    WriteIndented = true,
    IncludeFields = true,
    Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
}));
Console.WriteLine(Summarize(report));
return report.Error is null ? 0 : 1;

void Stop(PosixSignalContext context)
{
    context.Cancel = true;
    stop.Cancel();
}

static string Summarize(SoakReport r)
{
    var head = $"soak: {r.Agents.Total} agents {r.Chaos.Minutes} min, {r.Chaos.Kills} kills (manager {Kills(r, "manager")}, relay {Kills(r, "relay")}), {r.Jobs.Jobs} jobs";
    if (r.Checks is not { } c)
    {
        return $"{head}: FAILED ({r.Error})";
    }
    var text = string.Create(CultureInfo.InvariantCulture,
        $"{head}, {c.TargetsFinal} of {c.Targets} targets final, {c.Installs} installs, {c.DoubleInstalls} double installs, {c.LostResults + c.ResultsWithoutInstall} lost results, "
        + $"{c.UnexpectedOutcomes} unexpected outcomes, {c.NodesStopped} nodes stopped; all final {r.Times.SecondsToAllFinalAfterChaos:0.0} s after the chaos; "
        + $"{r.AgentLogs?.Failovers} failovers, {r.AgentLogs?.RetriesUnreachable + r.AgentLogs?.RetriesAnswered} retries; seed {r.Seed}");
    return r.Error is null ? text : text + $" FAILED ({r.Error})";
}

static int Kills(SoakReport r, string node) => r.Chaos.Nodes.FirstOrDefault(n => n.Node == node)?.Kills ?? 0;
