using System.Globalization;

namespace JP1Dist.Bench.Relays;

/// <summary>The benchmark's command line: clients, relays, package size, requests at once, and how long the run may take.</summary>
public sealed record RelaysOptions(int Clients, int Relays, int PackageMegabytes, int Parallelism, TimeSpan Timeout, bool IdGroup = false)
{
    /// <summary>The product requirement's figures: 1000 clients under 10 relays, a 10 MB package, 64 transfers at once, 10 minutes.</summary>
    public static RelaysOptions Default { get; } = new(1000, 10, 10, 64, TimeSpan.FromSeconds(600));

    public const string Usage = "usage: JP1Dist.Bench.Relays [--clients 1000] [--relays 10] [--package-mb 10] [--parallelism 64] [--timeout-seconds 600] [--id-group]";

    /// <summary>The package's size in bytes.</summary>
    public long PackageBytes => PackageMegabytes * 1024L * 1024L;

    /// <summary>Parses the options; throws <see cref="ArgumentException"/> on anything unknown or not a positive whole number.</summary>
    public static RelaysOptions Parse(IReadOnlyList<string> args)
    {
        var options = Default;
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (name == "--id-group")
            {
                options = options with { IdGroup = true };
                continue;
            }
            if (i + 1 >= args.Count)
            {
                throw new ArgumentException($"{name} needs a value. {Usage}");
            }
            var value = Positive(name, args[++i]);
            options = name switch
            {
                "--clients" => options with { Clients = value },
                "--relays" => options with { Relays = value },
                "--package-mb" => options with { PackageMegabytes = value },
                "--parallelism" => options with { Parallelism = value },
                "--timeout-seconds" => options with { Timeout = TimeSpan.FromSeconds(value) },
                _ => throw new ArgumentException($"Unknown option '{name}'. {Usage}"),
            };
        }
        return options;
    }

    private static int Positive(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > 0
            ? number
            : throw new ArgumentException($"{name} takes a positive whole number, not '{value}'. {Usage}");
}
