using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace JP1Dist.Bench.Transfer;

/// <summary>nginx as the reference: Debian's package, installed on demand, serving one folder on 127.0.0.1 with its own temporary config.</summary>
public sealed class Nginx : IDisposable
{
    private readonly Process _process;

    private Nginx(Process process, int port, string version)
    {
        _process = process;
        Port = port;
        Version = version;
    }

    public int Port { get; }
    public string Version { get; }

    /// <summary>The nginx binary, installing Debian's package when it is missing and this process may (root with apt-get); else null and why.</summary>
    public static string? Locate(TextWriter log, out string why)
    {
        why = "";
        foreach (var candidate in new[] { "/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx" })
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        if (!OperatingSystem.IsLinux() || !File.Exists("/usr/bin/apt-get") || Environment.UserName != "root")
        {
            why = "nginx is missing: install it with 'apt-get update && apt-get install -y nginx' (needs root), then run the benchmark again.";
            return null;
        }
        log.WriteLine("nginx is missing; installing Debian's package: apt-get update && apt-get install -y nginx");
        if (Run("apt-get", ["update", "-qq"], log) != 0 || Run("apt-get", ["install", "-y", "-qq", "nginx"], log) != 0 || !File.Exists("/usr/sbin/nginx"))
        {
            why = "nginx is missing and 'apt-get install -y nginx' failed; see the log above.";
            return null;
        }
        return "/usr/sbin/nginx";
    }

    /// <summary>Starts nginx in the foreground on a free loopback port, serving <paramref name="root"/>.</summary>
    public static async Task<Nginx> StartAsync(string binary, string root, string scratch)
    {
        var prefix = Path.Combine(scratch, "nginx");
        Directory.CreateDirectory(prefix);
        var port = FreePort();
        var config = Path.Combine(prefix, "nginx.conf");
        File.WriteAllText(config, string.Create(CultureInfo.InvariantCulture, $$"""
            worker_processes 1;
            daemon off;
            pid {{prefix}}/nginx.pid;
            error_log {{prefix}}/error.log warn;
            events { worker_connections 64; }
            http {
                access_log off;
                sendfile on;
                tcp_nopush on;
                default_type application/octet-stream;
                client_body_temp_path {{prefix}}/client;
                proxy_temp_path {{prefix}}/proxy;
                fastcgi_temp_path {{prefix}}/fastcgi;
                uwsgi_temp_path {{prefix}}/uwsgi;
                scgi_temp_path {{prefix}}/scgi;
                server {
                    listen 127.0.0.1:{{port}};
                    root {{root}};
                }
            }
            """));
        var start = new ProcessStartInfo(binary) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in new[] { "-p", prefix, "-c", config, "-e", Path.Combine(prefix, "error.log") })
        {
            start.ArgumentList.Add(argument);
        }
        var process = Process.Start(start)!;
        var version = VersionOf(binary);
        for (var i = 0; i < 100; i++)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"nginx ended at start-up: {await process.StandardError.ReadToEndAsync()}");
            }
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return new Nginx(process, port, version);
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }
        process.Kill(true);
        throw new InvalidOperationException("nginx did not listen within 10 s.");
    }

    private static string VersionOf(string binary)
    {
        var start = new ProcessStartInfo(binary, "-v") { UseShellExecute = false, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var text = process.StandardError.ReadToEnd().Trim();
        process.WaitForExit();
        return text;
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public static int Run(string file, string[] arguments, TextWriter log)
    {
        var start = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["DEBIAN_FRONTEND"] = "noninteractive";
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        log.Write(output.Result);
        log.Write(error);
        return process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        _process.Dispose();
    }
}
