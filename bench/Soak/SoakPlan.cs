namespace JP1Dist.Bench.Soak;

/// <summary>One SIGKILL of a node: when (seconds after the chaos began) and how long the node stays down before it is started again.</summary>
public sealed record PlannedKill(string Node, double AtSeconds, double DownSeconds);

/// <summary>
/// One job: when it is created and executed, its package (large: a payload of --package-mb in 256 KiB segments at the cap,
/// so transfers are cut by the kills; small: the install command alone), and whether its install command fails on purpose
/// on the hosts whose name ends in 0 (exit code <see cref="SoakPlan.FailureExitCode"/>), so failed results are checked too.
/// </summary>
public sealed record PlannedJob(string Name, double AtSeconds, bool Large, bool FailsOnSomeHosts);

/// <summary>
/// Every random choice of a run, drawn up front from one seed so that a run can be repeated: the kills of each node (their
/// own sequence each, so both may be down at once) and the jobs. What the seed cannot fix is the timing of the processes.
/// </summary>
public sealed record SoakPlan(int Seed, IReadOnlyList<PlannedKill> Kills, IReadOnlyList<PlannedJob> Jobs)
{
    /// <summary>The exit code of an install that fails on purpose (a plain failure: no success, reboot or retry code).</summary>
    public const int FailureExitCode = 7;

    public const string ManagerNode = "manager";
    public const string RelayNode = "relay";

    public static SoakPlan Draw(int seed, SoakOptions options)
    {
        var random = new Random(seed);
        var chaos = options.Minutes * 60.0;
        var kills = new List<PlannedKill>();
        foreach (var node in new[] { ManagerNode, RelayNode })
        {
            // The next kill is drawn from the moment the node is back, so a node is never killed while it is down.
            var at = Between(random, options.KillSeconds);
            while (at < chaos)
            {
                var down = Between(random, options.DownSeconds);
                kills.Add(new PlannedKill(node, Math.Round(at, 1), Math.Round(down, 1)));
                at += down + Between(random, options.KillSeconds);
            }
        }
        var jobs = new List<PlannedJob>();
        for (var (index, at) = (1, 0.0); at < chaos; index++, at += options.JobEverySeconds)
        {
            jobs.Add(new PlannedJob($"soak-{index:00}", at, random.NextDouble() < 0.5, index % 3 == 0));
        }
        return new SoakPlan(seed, kills.OrderBy(k => k.AtSeconds).ToList(), jobs);
    }

    private static double Between(Random random, (int Min, int Max) range) => range.Min + random.NextDouble() * (range.Max - range.Min);
}
