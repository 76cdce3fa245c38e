namespace JP1Dist.Bench.Baseline;

/// <summary>Reads the manager's log files for warnings and errors, which say more about behaviour under load than timings do.</summary>
public static class ServerLog
{
    private const int MaxSamples = 5;

    /// <summary>Counts warning and error lines in every log file of the folder; null when there is no folder.</summary>
    public static ServerLogSummary? Summarize(string logFolder)
    {
        if (!Directory.Exists(logFolder))
        {
            return null;
        }
        int warnings = 0, errors = 0;
        var samples = new List<string>();
        foreach (var file in Directory.EnumerateFiles(logFolder, "*.log"))
        {
            // The log is opened shared by the manager; read it the same way in case a writer is still closing.
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            while (reader.ReadLine() is { } line)
            {
                var warning = line.Contains(" [WRN] ", StringComparison.Ordinal);
                var error = line.Contains(" [ERR] ", StringComparison.Ordinal) || line.Contains(" [FTL] ", StringComparison.Ordinal);
                warnings += warning ? 1 : 0;
                errors += error ? 1 : 0;
                if ((warning || error) && samples.Count < MaxSamples)
                {
                    // Drop the timestamp so that repeats of one message count once.
                    var text = line[(line.IndexOf(" [", StringComparison.Ordinal) + 1)..];
                    text = text.Length > 300 ? text[..300] : text;
                    if (!samples.Contains(text))
                    {
                        samples.Add(text);
                    }
                }
            }
        }
        return new ServerLogSummary(warnings, errors, samples);
    }
}
