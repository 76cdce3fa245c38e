using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using JP1Dist.Protocol;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Agent;

/// <summary>What a user's command asks the running agent: "list" the offered packages, or "install" one.</summary>
public sealed record LocalRequest(string Op, string? Name = null, string? Version = null);

/// <summary>The running agent's answer: the offers, an install's outcome, or why the request was refused (bad input: nothing changed).</summary>
public sealed record LocalResponse(IReadOnlyList<AvailablePackage>? Available = null, UserInstallOutcome? Outcome = null, string? Refusal = null, string? Error = null);

/// <summary>
/// The local-only channel between a running agent and its user's commands (`jp1dist available`, `jp1dist install`): a Unix
/// domain socket <c>agent.sock</c> in the agent's state folder, created owner-only (mode 0600, bound under a temporary name
/// and moved into place only after its mode is set), so nobody but the agent's own account can connect, and nothing on the
/// network can. One JSON line asks, one JSON line answers. Not on Windows yet: the commands do the work themselves there.
/// </summary>
public sealed class LocalChannel : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly string _path;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    private LocalChannel(Socket listener, string path, Func<LocalRequest, CancellationToken, Task<LocalResponse>> handle, ILogger logger)
    {
        _listener = listener;
        _path = path;
        _accepting = AcceptAsync(handle, logger);
    }

    /// <summary>The socket's path in a state folder.</summary>
    public static string PathIn(string stateFolder) => System.IO.Path.Combine(stateFolder, "agent.sock");

    /// <summary>Whether this platform has the channel.</summary>
    public static bool Supported => !OperatingSystem.IsWindows() && Socket.OSSupportsUnixDomainSockets;

    /// <summary>Listens on the state folder's socket; null where the platform has no channel or the socket cannot be made (logged).</summary>
    public static LocalChannel? Open(string stateFolder, Func<LocalRequest, CancellationToken, Task<LocalResponse>> handle, ILogger logger)
    {
        if (OperatingSystem.IsWindows() || !Supported)
        {
            return null;
        }
        var path = PathIn(stateFolder);
        var temporary = path + "." + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            File.Delete(temporary);
            listener.Bind(new UnixDomainSocketEndPoint(temporary));
            File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            listener.Listen(8);
            File.Move(temporary, path, overwrite: true);
            return new LocalChannel(listener, path, handle, logger);
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException)
        {
            listener.Dispose();
            logger.LogWarning("The local channel for this computer's user ({Path}) could not be opened ({Error}); jp1dist install works without it", path, e.Message);
            return null;
        }
    }

    private async Task AcceptAsync(Func<LocalRequest, CancellationToken, Task<LocalResponse>> handle, ILogger logger)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            _ = Task.Run(() => ServeAsync(connection, handle, logger));
        }
    }

    private async Task ServeAsync(Socket connection, Func<LocalRequest, CancellationToken, Task<LocalResponse>> handle, ILogger logger)
    {
        using (connection)
        await using (var stream = new NetworkStream(connection, ownsSocket: false))
        {
            LocalResponse response;
            try
            {
                using var reader = new StreamReader(stream, Encoding.UTF8, leaveOpen: true);
                var line = await reader.ReadLineAsync(_stop.Token);
                var request = line is null ? null : JsonSerializer.Deserialize<LocalRequest>(line, ProtocolJson.Options);
                response = request is null ? new LocalResponse(Refusal: "The request was empty.") : await handle(request, _stop.Token);
            }
            catch (JsonException e)
            {
                response = new LocalResponse(Refusal: $"The request cannot be read ({e.Message}).");
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception e) when (e is IOException or SocketException)
            {
                logger.LogDebug("A local request ended early: {Error}", e.Message);
                return;
            }
            try
            {
                await stream.WriteAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(response, ProtocolJson.Options) + "\n"));
            }
            catch (Exception e) when (e is IOException or SocketException)
            {
                logger.LogDebug("The user's command left before its answer: {Error}", e.Message);
            }
        }
    }

    /// <summary>
    /// Asks the agent running on <paramref name="stateFolder"/>; null when none answers there (no socket, or one left by an
    /// agent that is gone), so the caller does the work itself.
    /// </summary>
    public static async Task<LocalResponse?> AskAsync(string stateFolder, LocalRequest request, CancellationToken cancellationToken)
    {
        var path = PathIn(stateFolder);
        if (!Supported || !File.Exists(path))
        {
            return null;
        }
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);
        }
        catch (SocketException)
        {
            return null;
        }
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(request, ProtocolJson.Options) + "\n"), cancellationToken);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var line = await reader.ReadLineAsync(cancellationToken)
            ?? throw new IOException("The running agent closed the local channel without an answer.");
        return JsonSerializer.Deserialize<LocalResponse>(line, ProtocolJson.Options)
            ?? throw new IOException("The running agent's answer was empty.");
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accepting;
        try
        {
            File.Delete(_path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A stale socket file is harmless: nobody accepts on it, and the commands then do the work themselves.
        }
        _stop.Dispose();
    }
}
