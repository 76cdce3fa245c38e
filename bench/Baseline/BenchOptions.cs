using System.Globalization;

namespace JP1Dist.Bench.Baseline;

/// <summary>The database engine the manager runs on in a benchmark run.</summary>
public enum BenchDatabase
{
    /// <summary>The data folder's SQLite file, the product's default.</summary>
    Sqlite,

    /// <summary>A throw-away PostgreSQL server the benchmark starts (tests/Unit/PostgresServer.cs), a fresh database per round.</summary>
    PostgreSql,
}

/// <summary>
/// The benchmark's command line: how many agents per round, how many requests at once, how long a round may take, how long
/// the idle manager is watched, how many client processes hold the agents (null: as few as the descriptor limit allows),
/// the folder of the jp1dist executable (null: out/jp1dist of this repository, built with the benchmark), and the
/// database engine the manager runs on.
/// </summary>
public sealed record BenchOptions(IReadOnlyList<int> AgentCounts, int Parallelism, TimeSpan RoundTimeout, TimeSpan IdleWindow,
    int? ClientProcesses = null, string? Jp1DistFolder = null, BenchDatabase Database = BenchDatabase.Sqlite)
{
    /// <summary>
    /// The options when none are given: 100 then 1000 agents, 64 requests at once, 5 minutes per round, the idle manager
    /// watched for one long-poll wait (30 s: every agent's poll ends and is sent again once in it).
    /// </summary>
    public static BenchOptions Default { get; } = new([100, 1000], 64, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(30));

    public const string Usage = "usage: JP1Dist.Bench.Baseline [--agents 100,1000] [--parallelism 64] [--timeout-seconds 300] [--idle-seconds 30] "
        + "[--client-processes N] [--jp1dist FOLDER] [--database sqlite|postgresql] "
        + "(postgresql: a throw-away server started by the benchmark, not a connection string, so that its processes' CPU and memory "
        + "can be read and nothing outlives the run)";

    /// <summary>Parses the options; throws <see cref="ArgumentException"/> on anything unknown or not a positive whole number.</summary>
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
                "--idle-seconds" => options with { IdleWindow = TimeSpan.FromSeconds(Positive(name, value)) },
                "--client-processes" => options with { ClientProcesses = Positive(name, value) },
                "--database" => options with { Database = DatabaseNamed(value) },
                "--jp1dist" => Directory.Exists(value) ? options with { Jp1DistFolder = Path.GetFullPath(value) }
                    : throw new ArgumentException($"--jp1dist: the folder '{value}' does not exist. {Usage}"),
                _ => throw new ArgumentException($"Unknown option '{name}'. {Usage}"),
            };
        }
        if (options.AgentCounts.Count == 0)
        {
            throw new ArgumentException($"--agents names no count. {Usage}");
        }
        return options;
    }

    private static BenchDatabase DatabaseNamed(string value) => value.ToLowerInvariant() switch
    {
        "sqlite" => BenchDatabase.Sqlite,
        "postgresql" => BenchDatabase.PostgreSql,
        _ => throw new ArgumentException($"--database takes sqlite or postgresql, not '{value}'. {Usage}"),
    };

    private static int Positive(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > 0
            ? number
            : throw new ArgumentException($"{name} takes a positive whole number, not '{value}'. {Usage}");
}
