using System.Globalization;

namespace JP1Dist.Bench.Baseline;

/// <summary>The benchmark's command line: how many agents per round, how many requests at once, and how long a round may take.</summary>
public sealed record BenchOptions(IReadOnlyList<int> AgentCounts, int Parallelism, TimeSpan RoundTimeout)
{
    /// <summary>The options when none are given: 100 then 1000 agents, 64 requests at once, 5 minutes per round.</summary>
    public static BenchOptions Default { get; } = new([100, 1000], 64, TimeSpan.FromMinutes(5));

    public const string Usage = "usage: JP1Dist.Bench.Baseline [--agents 100,1000] [--parallelism 64] [--timeout-seconds 300]";

    /// <summary>Parses <c>--agents</c>, <c>--parallelism</c> and <c>--timeout-seconds</c>; throws <see cref="ArgumentException"/> on anything else.</summary>
    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        var options = Default;
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (i + 1 >= args.Count)
            {
                throw new ArgumentException($"{name} needs a value. {Usage}");
            }
            var value = args[++i];
            options = name switch
            {
                "--agents" => options with { AgentCounts = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(v => Positive(name, v)).ToList() },
                "--parallelism" => options with { Parallelism = Positive(name, value) },
                "--timeout-seconds" => options with { RoundTimeout = TimeSpan.FromSeconds(Positive(name, value)) },
                _ => throw new ArgumentException($"Unknown option '{name}'. {Usage}"),
            };
        }
        if (options.AgentCounts.Count == 0)
        {
            throw new ArgumentException($"--agents names no count. {Usage}");
        }
        return options;
    }

    private static int Positive(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > 0
            ? number
            : throw new ArgumentException($"{name} takes a positive whole number, not '{value}'. {Usage}");
}
