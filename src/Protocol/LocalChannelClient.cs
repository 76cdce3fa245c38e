using System.IO.Pipes;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace JP1Dist.Protocol;

/// <summary>The requests of the local channel.</summary>
public static class LocalChannelOps
{
    /// <summary>Lists the packages offered to this computer's user.</summary>
    public const string List = "list";

    /// <summary>Installs one offered package (Name, optionally Version) and answers with its outcome.</summary>
    public const string Install = "install";
}

/// <summary>What a user's command asks the running agent: "list" the offered packages, or "install" one.</summary>
public sealed record LocalRequest(string Op, string? Name = null, string? Version = null);

/// <summary>The running agent's answer: the offers, an install's outcome, or why the request was refused (bad input: nothing changed).</summary>
public sealed record LocalResponse(IReadOnlyList<AvailablePackage>? Available = null, UserInstallOutcome? Outcome = null, string? Refusal = null, string? Error = null);

/// <summary>A package offered to this computer's user (a user-choice job), as <c>jp1dist available</c> and Get-DistAvailablePackage list it.</summary>
public sealed record AvailablePackage(string Name, string Version, string? Description, long SizeBytes, bool Installed, string JobName, Guid WorkItemId);

/// <summary>
/// What became of a user's install: the status reported (Succeeded, SucceededRebootRequired, Failed, ConditionNotMet; or
/// "Installed" when that version was installed already and nothing ran), the install command's exit code and the message.
/// </summary>
public sealed record UserInstallOutcome(string Name, string Version, string Status, int? ExitCode, string? Message, string? OutputTail, bool AlreadyInstalled = false)
{
    /// <summary>True when the package is installed now.</summary>
    public bool Succeeded => AlreadyInstalled || Status is ReportStatuses.Succeeded or ReportStatuses.SucceededRebootRequired;

    /// <summary>True when the install asked for the computer to restart.</summary>
    public bool RestartRequired => Status == ReportStatuses.SucceededRebootRequired;
}

/// <summary>Where an agent keeps its state unless told otherwise: one rule for the agent, its commands and the client cmdlets.</summary>
public static class AgentStateFolders
{
    /// <summary>The default state folder of the agent named <paramref name="name"/> (the computer's name unless the agent was given another).</summary>
    public static string Default(string name) => Path.Combine(
        Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create),
        "JP1Dist", "agent-" + name);
}

/// <summary>
/// The user's side of the local-only channel to a running agent (the agent's side is JP1Dist.Agent.LocalChannel): a Unix
/// domain socket <c>agent.sock</c> in the agent's state folder, owner-only; on Windows a named pipe derived from the state
/// folder, open to the agent's own account only and refused to network clients. One JSON line asks, one JSON line answers,
/// each bounded.
/// </summary>
public static class LocalChannelClient
{
    /// <summary>The longest request the agent reads.</summary>
    public const int MaxRequestBytes = 64 * 1024;

    /// <summary>The longest answer a command reads (a list of offers, an install's outcome with its output tail).</summary>
    public const int MaxAnswerBytes = 4 * 1024 * 1024;

    /// <summary>How long a command waits for a Windows agent's pipe before concluding no agent runs there.</summary>
    private static readonly TimeSpan PipeConnectTimeout = TimeSpan.FromSeconds(2);

    /// <summary>The socket's path in a state folder (not Windows).</summary>
    public static string SocketPath(string stateFolder) => Path.Combine(stateFolder, "agent.sock");

    /// <summary>
    /// The pipe's name for a state folder (Windows): the folder's full path, case-folded as Windows compares paths, hashed,
    /// so every agent on the computer has its own and a command finds the one of the folder it is given.
    /// </summary>
    public static string PipeName(string stateFolder)
    {
        var key = Path.GetFullPath(stateFolder).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar).ToUpperInvariant();
        return "jp1dist-agent-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..24];
    }

    /// <summary>Whether this platform has the channel.</summary>
    public static bool Supported => OperatingSystem.IsWindows() || Socket.OSSupportsUnixDomainSockets;

    /// <summary>
    /// Asks the agent running on <paramref name="stateFolder"/>; null when none answers there (no socket or pipe, or a socket
    /// left by an agent that is gone), so the caller does the work itself or says no agent runs. An answer that cannot be
    /// read is an <see cref="IOException"/>.
    /// </summary>
    public static async Task<LocalResponse?> AskAsync(string stateFolder, LocalRequest request, CancellationToken cancellationToken)
    {
        await using var stream = await ConnectAsync(stateFolder, cancellationToken).ConfigureAwait(false);
        if (stream is null)
        {
            return null;
        }
        await stream.WriteAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(request, ProtocolJson.Options) + "\n"), cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        var line = await ReadLineAsync(stream, MaxAnswerBytes, "the running agent's answer", cancellationToken).ConfigureAwait(false)
            ?? throw new IOException("The running agent closed the local channel without an answer.");
        try
        {
            return JsonSerializer.Deserialize<LocalResponse>(line, ProtocolJson.Options)
                ?? throw new IOException("The running agent's answer was empty.");
        }
        catch (JsonException e)
        {
            throw new IOException($"The running agent's answer cannot be read ({e.Message}).", e);
        }
    }

    private static async Task<Stream?> ConnectAsync(string stateFolder, CancellationToken cancellationToken)
    {
        if (OperatingSystem.IsWindows())
        {
            // CurrentUserOnly: the pipe must belong to this account, so another account's process that took the name first
            // is never talked to.
            var pipe = new NamedPipeClientStream(".", PipeName(stateFolder), PipeDirection.InOut, PipeOptions.Asynchronous | PipeOptions.CurrentUserOnly);
            try
            {
                await pipe.ConnectAsync(PipeConnectTimeout, cancellationToken).ConfigureAwait(false);
                return pipe;
            }
            catch (Exception e) when (e is TimeoutException or IOException or UnauthorizedAccessException)
            {
                await pipe.DisposeAsync().ConfigureAwait(false);
                return null;
            }
        }
        var path = SocketPath(stateFolder);
        if (!Socket.OSSupportsUnixDomainSockets || !File.Exists(path))
        {
            return null;
        }
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch (SocketException)
        {
            socket.Dispose();
            return null;
        }
    }

    /// <summary>
    /// Reads one line (UTF-8, ending at '\n') of at most <paramref name="limit"/> bytes; null at the end of the stream before
    /// any byte. A longer line is an <see cref="InvalidDataException"/> naming <paramref name="what"/>: nothing of it is used.
    /// The channel carries one line each way per connection, so whatever follows the line is not read.
    /// </summary>
    public static async Task<string?> ReadLineAsync(Stream stream, int limit, string what, CancellationToken cancellationToken)
    {
        var line = new MemoryStream();
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return line.Length == 0 ? null : Encoding.UTF8.GetString(line.GetBuffer(), 0, (int)line.Length);
            }
            var end = Array.IndexOf(buffer, (byte)'\n', 0, read);
            var take = end < 0 ? read : end;
            if (line.Length + take > limit)
            {
                throw new InvalidDataException($"{what} is longer than {limit:N0} bytes; it was not read.");
            }
            line.Write(buffer, 0, take);
            if (end >= 0)
            {
                return Encoding.UTF8.GetString(line.GetBuffer(), 0, (int)line.Length).TrimEnd('\r');
            }
        }
    }
}
