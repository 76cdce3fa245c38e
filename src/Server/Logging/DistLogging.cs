using Microsoft.Extensions.Logging;
using Serilog;
using Serilog.Events;

namespace JP1Dist.Server.Logging;

/// <summary>One Serilog configuration for every node: console for the person watching, a rolling file for later.</summary>
public static class DistLogging
{
    /// <summary>A logger writing to the console and to <paramref name="logFolder"/>/<paramref name="fileStem"/>-YYYYMMDD.log.</summary>
    public static Serilog.Core.Logger Create(string logFolder, string fileStem, bool quiet = false)
    {
        Directory.CreateDirectory(logFolder);
        var configuration = new LoggerConfiguration()
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.Hosting.Lifetime", LogEventLevel.Information)
            // ASP.NET Core's request logging (each request's start and end, at Information): off, not just filtered. While
            // its logger is on at any level, every request gets an Activity and a logging scope, which no output template
            // here writes; for a long poll they live its whole wait. Its other lines go too (a warning when
            // ASPNETCORE_HTTP_PORTS is set beside the node's own address); a node that cannot start is still logged, by the
            // host ("Hosting failed to start").
            .MinimumLevel.Override("Microsoft.AspNetCore.Hosting.Diagnostics", LevelAlias.Off)
            .MinimumLevel.Override("Microsoft.EntityFrameworkCore", LogEventLevel.Warning)
            .MinimumLevel.Override("Quartz", LogEventLevel.Warning)
            .Enrich.FromLogContext()
            .WriteTo.File(Path.Combine(logFolder, fileStem + "-.log"),
                rollingInterval: RollingInterval.Day,
                retainedFileCountLimit: 14,
                fileSizeLimitBytes: 50 * 1024 * 1024,
                rollOnFileSizeLimit: true,
                shared: true,
                outputTemplate: "{Timestamp:yyyy-MM-dd HH:mm:ss.fff zzz} [{Level:u3}] {SourceContext}: {Message:lj}{NewLine}{Exception}");
        if (!quiet)
        {
            configuration = configuration.WriteTo.Console(
                outputTemplate: "{Timestamp:HH:mm:ss} [{Level:u3}] {Message:lj}{NewLine}{Exception}",
                standardErrorFromLevel: LogEventLevel.Warning);
        }
        return configuration.CreateLogger();
    }

    /// <summary>
    /// Makes <paramref name="logger"/> the logging factory's one provider, for every node's host. Serilog as a provider, not
    /// as the factory: the factory makes a category's logger once, where Serilog's own factory made a new one (and its
    /// caches) at every call, and ASP.NET Core's results ask for theirs on every response (an eighth of what an idle poll
    /// allocated). Called after the service integrations, which add the Windows Event Log's provider when the process runs
    /// as a service: Serilog writes the node's log, alone.
    /// </summary>
    public static ILoggingBuilder UseSerilogOnly(this ILoggingBuilder logging, Serilog.ILogger logger, bool dispose)
    {
        logging.ClearProviders();
        return logging.AddSerilog(logger, dispose);
    }
}
