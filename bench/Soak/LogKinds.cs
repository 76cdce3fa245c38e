using System.Text.RegularExpressions;

namespace JP1Dist.Bench.Soak;

/// <summary>
/// The warnings and errors of a node's log files grouped by kind (the level, the source and the message's start with its
/// numbers, ids and addresses blanked; for an unhandled exception, the exception line below it), most frequent first, so
/// the report says what went wrong and how often, not only that something did.
/// </summary>
public static partial class LogKinds
{
    private const int MaxKinds = 12;

    public static IReadOnlyDictionary<string, int> Read(string logFolder)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        if (!Directory.Exists(logFolder))
        {
            return counts;
        }
        foreach (var file in Directory.EnumerateFiles(logFolder, "*.log"))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            string? pending = null;
            while (reader.ReadLine() is { } line)
            {
                if (pending is not null)
                {
                    // The line after "An unhandled exception was thrown" names the exception.
                    Count(counts, pending + " " + (line.StartsWith("20", StringComparison.Ordinal) ? "" : Blank(line.Trim())));
                    pending = null;
                }
                var at = line.IndexOf(" [WRN] ", StringComparison.Ordinal);
                at = at >= 0 ? at : line.IndexOf(" [ERR] ", StringComparison.Ordinal);
                at = at >= 0 ? at : line.IndexOf(" [FTL] ", StringComparison.Ordinal);
                if (at < 0)
                {
                    continue;
                }
                var text = Blank(line[(at + 1)..]);
                text = text.Length > 160 ? text[..160] : text;
                if (text.Contains("unhandled exception", StringComparison.Ordinal))
                {
                    pending = text;
                    continue;
                }
                Count(counts, text);
            }
            if (pending is not null)
            {
                Count(counts, pending);
            }
        }
        return counts.OrderByDescending(c => c.Value).Take(MaxKinds).ToDictionary(c => c.Key, c => c.Value);
    }

    private static void Count(Dictionary<string, int> counts, string kind) => counts[kind] = counts.GetValueOrDefault(kind) + 1;

    // The product's name keeps its digit; every other run of digits (counts, ports, host numbers) is blanked.
    private static string Blank(string text) => Numbers().Replace(Quoted().Replace(text, "\"…\"").Replace("JP1Dist", "JP\u0001Dist", StringComparison.Ordinal), "#")
        .Replace("JP\u0001Dist", "JP1Dist", StringComparison.Ordinal);

    [GeneratedRegex("\"[^\"]*\"")]
    private static partial Regex Quoted();

    [GeneratedRegex("[0-9a-fA-F]{8}-[0-9a-fA-F-]{27}|\\d+(\\.\\d+)*")]
    private static partial Regex Numbers();
}
