using System.Diagnostics;
using System.Text;
using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Security;
using JP1Dist.Protocol.Signing;
using JP1Dist.Protocol.Tls;

namespace JP1Dist.Core.Managers;

/// <summary>A manager process started by this process, bound to its lifetime.</summary>
public sealed class LaunchedManager(Process process, string url, string home, string shutdownSecret, string? certificatePin = null) : IDisposable
{
    public Process Process { get; } = process;
    public string Url { get; } = url;
    public string Home { get; } = home;

    /// <summary>The pin of its certificate as it announced it (null for plain HTTP); the stop request is held to it.</summary>
    public string? CertificatePin { get; } = certificatePin;

    /// <summary>When it was started, in local time.</summary>
    public DateTime StartedAt { get; } = DateTime.Now;

    /// <summary>Asks the manager to stop cleanly, and kills it if it has not stopped within the timeout.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        if (!Process.HasExited)
        {
            try
            {
                // The shutdown secret goes only to the manager whose certificate this process saw announced.
                using var client = new HttpClient(CertificatePinning.CreateHandler(CertificatePin)) { Timeout = TimeSpan.FromSeconds(5) };
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(new Uri(Url), ApiPaths.Shutdown));
                request.Headers.Add(ApiPaths.ShutdownHeader, shutdownSecret);
                using var response = await client.SendAsync(request);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or ArgumentException)
            {
                // Not answering (or not with its certificate): the kill below ends it.
            }
            using var wait = new CancellationTokenSource(timeout);
            try
            {
                await Process.WaitForExitAsync(wait.Token);
            }
            catch (OperationCanceledException)
            {
                Process.Kill(entireProcessTree: true);
                await Process.WaitForExitAsync(CancellationToken.None);
            }
        }
    }

    public void Dispose() => Process.Dispose();
}

/// <summary>
/// Starts <c>jp1dist manager</c> as a child process on a data folder and waits until it announces itself.
/// The child stops when its parent ends, so a manager started from a PowerShell session lives with that session.
/// </summary>
public static class ManagerLauncher
{
    /// <summary>The jp1dist executable to start: JP1DIST_EXE, else the apphost or the dll in <paramref name="folder"/>.</summary>
    public static (string FileName, string? Dll) FindExecutable(string? folder)
    {
        var configured = Environment.GetEnvironmentVariable("JP1DIST_EXE");
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? ("dotnet", configured) : (configured, null);
        }
        if (folder is null)
        {
            throw new DistException("ManagerExecutableNotFound", DistErrorKind.NotFound,
                "Where the jp1dist executable is, is not known here; set JP1DIST_EXE to its path.");
        }
        var apphost = Path.Combine(folder, OperatingSystem.IsWindows() ? "jp1dist.exe" : "jp1dist");
        if (File.Exists(apphost))
        {
            return (apphost, null);
        }
        var dll = Path.Combine(folder, "jp1dist.dll");
        if (File.Exists(dll))
        {
            return ("dotnet", dll);
        }
        throw new DistException("ManagerExecutableNotFound", DistErrorKind.NotFound,
            $"The jp1dist executable was not found in '{folder}'; build the solution (dotnet build) or set JP1DIST_EXE.", folder);
    }

    /// <summary>Starts a manager on the data folder (JP1DIST_HOME or the default when <paramref name="home"/> is null).</summary>
    public static Task<LaunchedManager> StartAsync(string? executableFolder, string listenUrl, string? home, TimeSpan timeout, CancellationToken cancellationToken) =>
        StartAsync(executableFolder, new ManagerStartRequest(listenUrl), DistEngine.ForFolder(home), timeout, cancellationToken);

    /// <summary>Starts a manager on the engine's data folder; refused when one already runs there.</summary>
    public static async Task<LaunchedManager> StartAsync(string? executableFolder, ManagerStartRequest request, DistEngine engine, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var listenUrl = request.ListenUrl;
        if (!Uri.TryCreate(listenUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new DistException("ListenUrlInvalid", DistErrorKind.InvalidArgument, $"'{listenUrl}' is not an http:// or https:// URL.", listenUrl);
        }
        // The manager would refuse it too; saying so here gives the reason without starting a process.
        if (PlainHttp.IsInsecure(uri) && !request.AllowInsecureHttp)
        {
            throw new DistException("ListenUrlInsecure", DistErrorKind.InvalidArgument,
                $"'{listenUrl}' would serve plain HTTP beyond this computer: enrollment tokens, credentials and packages would cross the "
                + $"network unencrypted. Listen on https://{uri.Authority} (the manager creates its certificate in the data folder's keys "
                + $"folder) or on http://127.0.0.1:{uri.Port}; -AllowInsecureHttp accepts the risk where it must.", listenUrl);
        }
        foreach (var (path, parameter) in new[] { (request.CertificatePath, "-Certificate"), (request.CertificateKeyPath, "-CertificateKey") })
        {
            if (path is not null && !File.Exists(path))
            {
                throw new DistException("CertificateFileNotFound", DistErrorKind.NotFound, $"{parameter}: the file '{path}' does not exist.", path);
            }
        }
        if (request.CertificateKeyPath is not null && request.CertificatePath is null)
        {
            throw new DistException("CertificateKeyWithoutCertificate", DistErrorKind.InvalidArgument,
                "-CertificateKey is the private key of -Certificate; give the certificate too.", request.CertificateKeyPath);
        }
        var folder = engine.Folder;
        var running = (await engine.Managers.ListAsync(cancellationToken)).FirstOrDefault(m => m.IsAlive);
        if (running is not null)
        {
            throw new DistException("ManagerAlreadyRunning", DistErrorKind.InvalidOperation,
                $"A manager already runs on data folder '{folder.Root}' at {running.Url} (process {running.ProcessId}); one data folder has one manager.", running.Url);
        }
        var (fileName, dll) = FindExecutable(executableFolder);
        var secret = Secrets.NewSecret();
        var start = new ProcessStartInfo
        {
            FileName = fileName,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            CreateNoWindow = true,
        };
        if (dll is not null)
        {
            start.ArgumentList.Add(dll);
        }
        foreach (var argument in new[] { "manager", "--listen", listenUrl, "--home", folder.Root })
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (option, value) in new[] { ("--certificate", request.CertificatePath), ("--certificate-key", request.CertificateKeyPath) })
        {
            if (value is not null)
            {
                start.ArgumentList.Add(option);
                start.ArgumentList.Add(Path.GetFullPath(value));
            }
        }
        if (request.AllowInsecureHttp)
        {
            start.ArgumentList.Add(PlainHttp.AllowSwitch);
        }
        // The password in the environment, where other users cannot read it; never inherited from this process's.
        start.Environment.Remove(PlainHttp.CertificatePasswordVariable);
        if (request.CertificatePassword is { Length: > 0 } password)
        {
            start.Environment[PlainHttp.CertificatePasswordVariable] = password;
        }
        start.Environment["JP1DIST_SHUTDOWN_SECRET"] = secret;
        start.Environment["JP1DIST_PARENT_PID"] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var process = Process.Start(start) ?? throw new DistException("ManagerStartFailed", DistErrorKind.NotAvailable, $"'{fileName}' did not start.");
        var errors = new StringBuilder();
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (errors) { errors.AppendLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                string text;
                lock (errors)
                {
                    text = errors.ToString().Trim();
                }
                throw new DistException("ManagerStartFailed", DistErrorKind.NotAvailable,
                    $"The manager exited with code {process.ExitCode} before it was ready. {text}", listenUrl);
            }
            var announced = (await engine.Managers.ListAsync(cancellationToken)).FirstOrDefault(m => m.ProcessId == process.Id && m.IsAlive);
            if (announced is not null)
            {
                return new LaunchedManager(process, announced.Url, folder.Root, secret, announced.CertificatePin);
            }
            await Task.Delay(100, cancellationToken);
        }
        process.Kill(entireProcessTree: true);
        throw new DistException("ManagerStartTimeout", DistErrorKind.NotAvailable,
            $"The manager did not announce itself within {timeout.TotalSeconds:0} s; see the logs in '{folder.LogsPath}'.", listenUrl);
    }
}
