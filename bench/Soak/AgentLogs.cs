namespace JP1Dist.Bench.Soak;

/// <summary>
/// What the agents' own log files say happened to them: moves to a stand-in higher system (failovers) and back, calls tried
/// again after an unreachable or refusing higher system, and errors.
/// </summary>
public sealed record AgentLogSummary(
    int Failovers,
    int FailoversToManager,
    int FailoversToRelay,
    int AgentsThatFailedOver,
    int ReturnsToFirst,
    int RetriesUnreachable,
    int RetriesAnswered,
    int Warnings,
    int Errors,
    IReadOnlyList<string> Samples)
{
    private const int MaxSamples = 8;

    /// <summary>Reads `logs/*.log` in every agent state folder; a move names the URL it goes to, the manager's or the relay's.</summary>
    public static AgentLogSummary Read(IEnumerable<string> stateFolders, string managerUrl, string relayUrl)
    {
        int failovers = 0, toManager = 0, toRelay = 0, agentsMoved = 0, returns = 0, unreachable = 0, answered = 0, warnings = 0, errors = 0;
        var samples = new List<string>();
        foreach (var folder in stateFolders)
        {
            var logs = Path.Combine(folder, "logs");
            if (!Directory.Exists(logs))
            {
                continue;
            }
            var moved = false;
            foreach (var file in Directory.EnumerateFiles(logs, "*.log"))
            {
                using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                using var reader = new StreamReader(stream);
                while (reader.ReadLine() is { } line)
                {
                    if (line.Contains(" cannot serve; trying ", StringComparison.Ordinal))
                    {
                        failovers++;
                        toManager += line.Contains($" cannot serve; trying \"{managerUrl}/\"", StringComparison.Ordinal) ? 1 : 0;
                        toRelay += line.Contains($" cannot serve; trying \"{relayUrl}/\"", StringComparison.Ordinal) ? 1 : 0;
                        moved = true;
                    }
                    else if (line.Contains("Trying the first higher system ", StringComparison.Ordinal))
                    {
                        returns++;
                    }
                    else if (line.Contains(" is not reachable (", StringComparison.Ordinal))
                    {
                        unreachable++;
                    }
                    else if (line.Contains("[WRN]", StringComparison.Ordinal) && line.Contains(" answered ", StringComparison.Ordinal))
                    {
                        answered++;
                    }
                    var warning = line.Contains(" [WRN] ", StringComparison.Ordinal);
                    var error = line.Contains(" [ERR] ", StringComparison.Ordinal) || line.Contains(" [FTL] ", StringComparison.Ordinal);
                    warnings += warning ? 1 : 0;
                    errors += error ? 1 : 0;
                    if (error && samples.Count < MaxSamples)
                    {
                        var text = line[(line.IndexOf(" [", StringComparison.Ordinal) + 1)..];
                        text = text.Length > 300 ? text[..300] : text;
                        if (!samples.Contains(text))
                        {
                            samples.Add(text);
                        }
                    }
                }
            }
            agentsMoved += moved ? 1 : 0;
        }
        return new AgentLogSummary(failovers, toManager, toRelay, agentsMoved, returns, unreachable, answered, warnings, errors, samples);
    }
}
