using System.Globalization;

namespace JP1Dist.Bench.Soak;

/// <summary>
/// The soak's command line: how many agents (and how many of them below the relay), how long the chaos lasts and how
/// long the system then has to settle, the seed of every random choice, how often a job starts, the large packages'
/// size and cap, and the ranges the kills are drawn from.
/// </summary>
public sealed record SoakOptions(
    int Agents,
    int? BelowRelay,
    int Minutes,
    int SettleMinutes,
    int? Seed,
    int JobEverySeconds,
    int PackageMegabytes,
    int CapKBps,
    (int Min, int Max) KillSeconds,
    (int Min, int Max) DownSeconds,
    string? Executables)
{
    /// <summary>
    /// The figures: 200 agents, half below the relay, 10 minutes of chaos, then at most 15 to settle; a job for every
    /// agent each minute, half of them 2 MB at 512 KB/s (4 s a transfer, so kills cut transfers); a kill of each node every
    /// 20-90 s, down 1-20 s.
    /// </summary>
    public static SoakOptions Default { get; } = new(200, null, 10, 15, null, 60, 2, 512, (20, 90), (1, 20), null);

    public const string Usage = "usage: JP1Dist.Bench.Soak [--agents 200] [--below-relay N (default half)] [--minutes 10] [--settle-minutes 15] [--seed N] "
        + "[--job-every-seconds 60] [--package-mb 2] [--cap-kbps 512] [--kill-seconds 20-90] [--down-seconds 1-20] [--jp1dist out/jp1dist]";

    /// <summary>How many agents have the relay as their first higher system (the manager stands in); the rest are on the manager.</summary>
    public int AgentsBelowRelay => BelowRelay ?? Agents / 2;

    /// <summary>Parses the options; throws <see cref="ArgumentException"/> on anything unknown or out of range.</summary>
    public static SoakOptions Parse(IReadOnlyList<string> args)
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
                "--agents" => options with { Agents = Positive(name, value) },
                "--below-relay" => options with { BelowRelay = NotNegative(name, value) },
                "--minutes" => options with { Minutes = Positive(name, value) },
                "--settle-minutes" => options with { SettleMinutes = Positive(name, value) },
                "--seed" => options with { Seed = NotNegative(name, value) },
                "--job-every-seconds" => options with { JobEverySeconds = Positive(name, value) },
                "--package-mb" => options with { PackageMegabytes = Positive(name, value) },
                "--cap-kbps" => options with { CapKBps = NotNegative(name, value) },
                "--kill-seconds" => options with { KillSeconds = Range(name, value) },
                "--down-seconds" => options with { DownSeconds = Range(name, value) },
                "--jp1dist" => options with { Executables = value },
                _ => throw new ArgumentException($"Unknown option '{name}'. {Usage}"),
            };
        }
        if (options.AgentsBelowRelay > options.Agents)
        {
            throw new ArgumentException($"--below-relay {options.AgentsBelowRelay} is more than --agents {options.Agents}. {Usage}");
        }
        return options;
    }

    private static int Positive(string name, string value) => NotNegative(name, value) is > 0 and var number
        ? number
        : throw new ArgumentException($"{name} takes a positive whole number, not '{value}'. {Usage}");

    private static int NotNegative(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            ? number
            : throw new ArgumentException($"{name} takes a whole number, not '{value}'. {Usage}");

    private static (int, int) Range(string name, string value)
    {
        var parts = value.Split('-');
        if (parts.Length == 2 && NotNegative(name, parts[0]) is var min && Positive(name, parts[1]) is var max && min <= max)
        {
            return (min, max);
        }
        throw new ArgumentException($"{name} takes a range of seconds MIN-MAX, such as 20-90, not '{value}'. {Usage}");
    }
}
