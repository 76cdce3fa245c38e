using System.IO.Pipes;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Security.AccessControl;
using System.Security.Principal;
using System.Text;
using System.Text.Json;
using JP1Dist.Protocol;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Agent;

/// <summary>
/// The agent's side of the local-only channel between a running agent and its user's commands (`jp1dist available`,
/// `jp1dist install`, Get-DistAvailablePackage, Install-DistAvailablePackage; their side is
/// <see cref="LocalChannelClient"/>). Elsewhere than Windows: a Unix domain socket <c>agent.sock</c> in the agent's state
/// folder, created owner-only (mode 0600, bound under a temporary name and moved into place only after its mode is set),
/// so nobody but the agent's own account can connect, and nothing on the network can. On Windows: a named pipe named after
/// the state folder whose access list allows the agent's account only and denies network logons, created as the first
/// instance of its name so that a process that took the name first is noticed rather than served. One JSON line asks
/// (at most <see cref="LocalChannelClient.MaxRequestBytes"/>), one JSON line answers.
/// </summary>
public sealed class LocalChannel : IAsyncDisposable
{
    private const int MaxConnections = 8;

    private readonly Socket? _listener;
    private readonly string? _socketPath;
    private readonly string? _pipeName;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly Func<LocalRequest, CancellationToken, Task<LocalResponse>> _handle;
    private readonly ILogger _logger;

    private LocalChannel(Socket? listener, string? socketPath, NamedPipeServerStream? firstPipe, string? pipeName,
        Func<LocalRequest, CancellationToken, Task<LocalResponse>> handle, ILogger logger)
    {
        _listener = listener;
        _socketPath = socketPath;
        _pipeName = pipeName;
        _handle = handle;
        _logger = logger;
        _accepting = listener is not null ? AcceptSocketsAsync(listener) : AcceptPipesAsync(firstPipe!);
    }

    /// <summary>Listens on the state folder's socket or pipe; null where the platform has no channel or it cannot be made (logged).</summary>
    public static LocalChannel? Open(string stateFolder, Func<LocalRequest, CancellationToken, Task<LocalResponse>> handle, ILogger logger)
    {
        if (OperatingSystem.IsWindows())
        {
            return OpenPipe(stateFolder, handle, logger);
        }
        if (!Socket.OSSupportsUnixDomainSockets)
        {
            return null;
        }
        var path = LocalChannelClient.SocketPath(stateFolder);
        var temporary = path + "." + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            File.Delete(temporary);
            listener.Bind(new UnixDomainSocketEndPoint(temporary));
            File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            listener.Listen(MaxConnections);
            File.Move(temporary, path, overwrite: true);
            return new LocalChannel(listener, path, null, null, handle, logger);
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException)
        {
            listener.Dispose();
            logger.LogWarning("The local channel for this computer's user ({Path}) could not be opened ({Error}); jp1dist install works without it", path, e.Message);
            return null;
        }
    }

    [SupportedOSPlatform("windows")]
    private static LocalChannel? OpenPipe(string stateFolder, Func<LocalRequest, CancellationToken, Task<LocalResponse>> handle, ILogger logger)
    {
        var name = LocalChannelClient.PipeName(stateFolder);
        try
        {
            return new LocalChannel(null, null, CreatePipe(name, first: true), name, handle, logger);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning("The local channel for this computer's user (pipe {Pipe}) could not be opened ({Error}): another process may hold its name; "
                + "jp1dist install works without it", name, e.Message);
            return null;
        }
    }

    /// <summary>One instance of the agent's pipe: the agent's account may use it, network logons may not, nobody else is listed.</summary>
    [SupportedOSPlatform("windows")]
    private static NamedPipeServerStream CreatePipe(string name, bool first)
    {
        using var self = WindowsIdentity.GetCurrent();
        var security = new PipeSecurity();
        security.SetOwner(self.User!);
        security.SetAccessRuleProtection(isProtected: true, preserveInheritance: false);
        security.AddAccessRule(new PipeAccessRule(new SecurityIdentifier(WellKnownSidType.NetworkSid, null), PipeAccessRights.FullControl, AccessControlType.Deny));
        security.AddAccessRule(new PipeAccessRule(self.User!, PipeAccessRights.ReadWrite | PipeAccessRights.CreateNewInstance, AccessControlType.Allow));
        var options = PipeOptions.Asynchronous | (first ? PipeOptions.FirstPipeInstance : PipeOptions.None);
        return NamedPipeServerStreamAcl.Create(name, PipeDirection.InOut, MaxConnections, PipeTransmissionMode.Byte, options, 0, 0, security);
    }

    private async Task AcceptSocketsAsync(Socket listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            _ = Task.Run(() => ServeAsync(new NetworkStream(connection, ownsSocket: true)));
        }
    }

    private async Task AcceptPipesAsync(NamedPipeServerStream first)
    {
        NamedPipeServerStream? waiting = first;
        while (waiting is not null && !_stop.IsCancellationRequested)
        {
            try
            {
                await waiting.WaitForConnectionAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
            {
                await waiting.DisposeAsync();
                if (_stop.IsCancellationRequested)
                {
                    return;
                }
                waiting = await NextPipeAsync();
                continue;
            }
            var connected = waiting;
            _ = Task.Run(() => ServeAsync(connected));
            waiting = await NextPipeAsync();
        }
        if (waiting is not null)
        {
            await waiting.DisposeAsync();
        }
    }

    /// <summary>The next pipe instance; while none can be made (all instances busy), waits a moment and tries again; null once stopping.</summary>
    private async Task<NamedPipeServerStream?> NextPipeAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                return OperatingSystem.IsWindows() ? CreatePipe(_pipeName!, first: false) : throw new PlatformNotSupportedException();
            }
            catch (IOException e)
            {
                _logger.LogDebug("No instance of the local channel's pipe can be made now ({Error}); trying again", e.Message);
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200), _stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return null;
                }
            }
        }
        return null;
    }

    private async Task ServeAsync(Stream connection)
    {
        await using (connection)
        {
            LocalResponse response;
            try
            {
                var line = await LocalChannelClient.ReadLineAsync(connection, LocalChannelClient.MaxRequestBytes, "The request", _stop.Token);
                var request = line is null ? null : JsonSerializer.Deserialize<LocalRequest>(line, ProtocolJson.Options);
                response = request is null ? new LocalResponse(Refusal: "The request was empty.") : await _handle(request, _stop.Token);
            }
            catch (JsonException e)
            {
                response = new LocalResponse(Refusal: $"The request cannot be read ({e.Message}).");
            }
            catch (InvalidDataException e)
            {
                response = new LocalResponse(Refusal: e.Message);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception e) when (e is IOException or SocketException)
            {
                _logger.LogDebug("A local request ended early: {Error}", e.Message);
                return;
            }
            try
            {
                await connection.WriteAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(response, ProtocolJson.Options) + "\n"));
                await connection.FlushAsync();
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                _logger.LogDebug("The user's command left before its answer: {Error}", e.Message);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener?.Dispose();
        await _accepting;
        if (_socketPath is not null)
        {
            try
            {
                File.Delete(_socketPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A stale socket file is harmless: nobody accepts on it, and the commands then do the work themselves.
            }
        }
        _stop.Dispose();
    }
}
