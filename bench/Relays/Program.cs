using System.Globalization;
using System.Text.Json;
using JP1Dist.Bench.Relays;

// The relays benchmark: one manager, R relays and N simulated clients for one package; time from executing the job to the
// last result at the manager, the bytes the manager sent against package × relays, and a direct-fetch reference measured
// in the same run. Progress goes to stderr; stdout carries only the JSON document and the one-line summary.

RelaysOptions options;
try
{
    options = RelaysOptions.Parse(args);
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

#if DEBUG
const string build = "Debug";
#else
const string build = "Release";
#endif
var report = await RelaysRun.RunAsync(options, build, Console.Error, stop.Token);
Console.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
Console.WriteLine(Summarize(report));
return report.Error is null ? 0 : 1;

static string Summarize(RelaysReport r)
{
    var head = $"relays: {r.Clients} clients via {r.Relays} relays, {r.PackageBytes / 1048576.0:0.#} MB" + (r.Scenario.StartsWith("id-group", StringComparison.Ordinal) ? ", ID group job" : "");
    if (r.Error is not null && r.Times.SecondsToLastResult is null)
    {
        return $"{head}: FAILED ({r.Error})";
    }
    var text = string.Create(CultureInfo.InvariantCulture,
        $"{head}: {r.Times.SecondsToLastResult:0.0} s to all results (direct-fetch ref {r.Reference?.Seconds:0.0} s, x{r.Ratio:0.0})");
    if (r.Bytes is { } b)
    {
        text += string.Create(CultureInfo.InvariantCulture,
            $"; manager sent {b.ManagerBytes / 1048576.0:0.0} MB = {b.ManagerRatio:0.00} x package x relays; relays sent {b.RelaysBytesTotal / 1048576.0:0.0} MB = {b.RelaysRatio:0.00} x package x clients");
    }
    if (r.ManagerRelayPollsWoken is { } woken)
    {
        text += string.Create(CultureInfo.InvariantCulture, $"; relay polls woken at the manager {woken:0}");
    }
    return r.Error is null ? text : text + $" FAILED ({r.Error})";
}
