using System.Text.Json.Serialization;

namespace JP1Dist.PesterHost;

/// <summary>One reported outcome: a test (It) or a block-level failure (discovery, BeforeAll, AfterAll).</summary>
public sealed record TestResult(
    [property: JsonPropertyName("path")] IReadOnlyList<string> Path,
    [property: JsonPropertyName("result")] string Result,
    [property: JsonPropertyName("message")] string? Message,
    [property: JsonPropertyName("location")] string? Location,
    [property: JsonPropertyName("durationMs")] long DurationMs,
    [property: JsonPropertyName("kind")] string Kind);

/// <summary>Receives results from the shim as they happen and prints progress lines.</summary>
/// <remarks>The shim calls <see cref="Report"/> directly so progress is printed while the file runs, not at the end.</remarks>
public sealed class ResultSink
{
    private readonly List<TestResult> results = [];

    /// <summary>Everything reported so far, in order.</summary>
    public IReadOnlyList<TestResult> Results => results;

    /// <summary>True when any test failed.</summary>
    public bool AnyTestFailed => results.Any(r => r.Kind == "Test" && r.Result == "Failed");

    /// <summary>True when a block failed outside of a test (file-level error).</summary>
    public bool AnyBlockFailed => results.Any(r => r.Kind == "Block" && r.Result == "Failed");

    /// <summary>Records and prints one result; called from the PowerShell shim.</summary>
    public void Report(string[] path, string result, string? message, string? location, double durationMs, string kind)
    {
        var entry = new TestResult(path, result, string.IsNullOrEmpty(message) ? null : message, string.IsNullOrEmpty(location) ? null : location, (long)Math.Round(durationMs), kind);
        results.Add(entry);
        Print(entry);
    }

    private static void Print(TestResult r)
    {
        var name = string.Join(" > ", r.Path);
        var marker = r.Result switch
        {
            "Passed" => "[+]",
            "Skipped" => "[!]",
            _ => "[-]",
        };
        var what = r.Kind == "Block" ? name + " (block)" : name;
        Console.Out.WriteLine(r.Result == "Skipped" ? $"{marker} {what} skipped" : $"{marker} {what} ({r.DurationMs} ms)");
        if (r.Result == "Passed")
        {
            return;
        }

        if (r.Message is not null)
        {
            foreach (var line in r.Message.Split('\n'))
            {
                Console.Out.WriteLine("    " + line.TrimEnd('\r'));
            }
        }

        if (r.Location is not null)
        {
            foreach (var line in r.Location.Split('\n'))
            {
                Console.Out.WriteLine("    " + line.TrimEnd('\r'));
            }
        }
    }
}
