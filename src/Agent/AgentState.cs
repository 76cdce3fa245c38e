using System.Text.Json;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Security;

namespace JP1Dist.Agent;

/// <summary>
/// What an agent keeps about itself: who it is at its higher system, the manifest key it pinned, and the pin of the higher
/// system's TLS certificate it registered through (null: plain HTTP, or the operating system's trust store decides), so
/// later connections stay pinned. <see cref="SigningKeyAnnouncements"/> are the announcements of the manager's later
/// signing keys this agent accepted, starting from <see cref="ManifestPublicKey"/>; which keys it trusts at a time is
/// <see cref="AgentTrust.TrustedSigningKeys"/>. Pending: the registration waits for an administrator's approval; the agent
/// asks again with this id and credential and does nothing else meanwhile.
/// </summary>
/// <remarks>
/// <see cref="FailoverUrls"/> are the stand-ins the agent was last started with (`--manager URL1,URL2,…`), kept so that the
/// user's commands that work without a running agent (`jp1dist install`) fail over as the agent does.
/// </remarks>
public sealed record AgentIdentity(Uri ManagerUrl, string Name, Guid HostId, string Credential, string ManifestPublicKey, string? CertificatePin = null,
    IReadOnlyList<JP1Dist.Protocol.Signing.SigningKeyAnnouncement>? SigningKeyAnnouncements = null, bool Pending = false,
    IReadOnlyList<Uri>? FailoverUrls = null);

/// <summary>Where a ticket is in its life; an agent that restarts resumes from here and never installs twice.</summary>
public enum TicketPhase
{
    Received,
    Downloaded,
    Installing,
    Completed,
    /// <summary>A user-choice package offered to this computer's user: kept until they install it (<see cref="Ticket.ChosenAt"/>).</summary>
    Available,
}

/// <summary>The outcome the agent reports for a ticket.</summary>
public sealed record TicketResult(string Status, int? ExitCode, string? Message, string? OutputTail);

/// <summary>One unit of work as the agent stores it before acting on it.</summary>
public sealed class Ticket
{
    public required WorkItem Item { get; init; }
    public TicketPhase Phase { get; set; }
    public TicketResult? Result { get; set; }
    public bool Reported { get; set; }
    /// <summary>Verified segments per file hash, so that a transfer resumes from the last good segment.</summary>
    public Dictionary<string, int> VerifiedSegments { get; init; } = [];
    public long BytesTransferred { get; set; }
    /// <summary>Segments verified over all files.</summary>
    public int SegmentsTransferred { get; set; }
    /// <summary>The higher system said the target is suspended: do nothing with it until it is served again.</summary>
    public bool Held { get; set; }
    /// <summary>When the install may run (UTC), from the signed job settings or manifest; null means at once.</summary>
    public DateTime? InstallAt { get; set; }

    /// <summary>
    /// When the agent accepted the item (UTC): its signatures are checked again on every step against the keys trusted
    /// then, so a signing key that retires while the item waits for its install time does not undo an accepted item.
    /// </summary>
    public DateTime? ReceivedAt { get; set; }

    /// <summary>
    /// For a user-choice item: when this computer's user chose to install it (UTC); null while it is only offered. Set once,
    /// saved before anything is fetched, so the item goes on as an install from then on and is offered no more.
    /// </summary>
    public DateTime? ChosenAt { get; set; }
}

/// <summary>A transfer's progress, saved apart from its ticket.</summary>
public sealed record TransferProgress(Dictionary<string, int> VerifiedSegments, long BytesTransferred, int SegmentsTransferred);

/// <summary>
/// The agent's state folder: identity, tickets and their files. Every write is to a temporary file renamed into place; a
/// write or folder this computer refuses (a full disk, a denied path) throws a <see cref="LocalFaultException"/> naming it.
/// </summary>
public sealed class AgentStateStore
{
    public AgentStateStore(string folder)
    {
        Folder = Path.GetFullPath(folder);
        LocalFault.CreateFolder(Folder, "the state folder");
        LocalFault.CreateFolder(WorkFolder, "the state folder's work folder");
        // The credential file of an earlier version (or one copied in) may be readable by others: narrow it now.
        OwnerOnlyFiles.Tighten(IdentityPath);
    }

    public string Folder { get; }
    public string WorkFolder => Path.Combine(Folder, "work");
    public string LogsFolder => Path.Combine(Folder, "logs");
    /// <summary>The identity file (agent.json): holds the credential, so it is owner-only.</summary>
    public string IdentityPath => Path.Combine(Folder, "agent.json");
    private string InstalledPath => Path.Combine(Folder, "installed.json");

    /// <summary>What JP1Dist installed on this computer: package name → version (a fact for SoftwareInstalled/SoftwareAbsent).</summary>
    public IReadOnlyDictionary<string, string> LoadInstalled() =>
        Read<Dictionary<string, string>>(InstalledPath) is { } installed
            ? new Dictionary<string, string>(installed, StringComparer.OrdinalIgnoreCase)
            : new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    private string PowerRequestPath => Path.Combine(Folder, "power.json");

    private string PowerOrdersPath => Path.Combine(Folder, "power-orders.json");

    /// <summary>Whether this agent took the power order already (asked again, it is reported again, not acted on twice).</summary>
    public bool PowerOrderTaken(Guid orderId) => (Read<Dictionary<Guid, DateTime>>(PowerOrdersPath) ?? []).ContainsKey(orderId);

    /// <summary>Records a power order as taken, until a day after it expires (an expired order is refused anyway).</summary>
    public void RememberPowerOrder(Guid orderId, DateTime expiresAt)
    {
        var taken = Read<Dictionary<Guid, DateTime>>(PowerOrdersPath) ?? [];
        foreach (var old in taken.Where(t => t.Value.AddDays(1) < DateTime.UtcNow).Select(t => t.Key).ToList())
        {
            taken.Remove(old);
        }
        taken[orderId] = expiresAt;
        Write(PowerOrdersPath, taken);
    }

    /// <summary>The restart (or shutdown) asked of this computer and not settled yet, or null.</summary>
    public PowerRequest? LoadPowerRequest() => Read<PowerRequest>(PowerRequestPath);

    /// <summary>Records the request (null: settled, the file is removed).</summary>
    public void SavePowerRequest(PowerRequest? request)
    {
        if (request is null)
        {
            File.Delete(PowerRequestPath);
            return;
        }
        Write(PowerRequestPath, request);
    }

    /// <summary>Records a successful install of a package version.</summary>
    public void RecordInstalled(string name, string version)
    {
        var installed = new Dictionary<string, string>(LoadInstalled(), StringComparer.OrdinalIgnoreCase) { [name] = version };
        Write(InstalledPath, installed);
    }

    public AgentIdentity? LoadIdentity() => Read<AgentIdentity>(IdentityPath);

    /// <summary>One lock per identity file in this process: a relay's client role and its uplink both update the relay's identity.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lock> IdentityLocks = new(StringComparer.Ordinal);

    private Lock IdentityLock => IdentityLocks.GetOrAdd(IdentityPath, _ => new Lock());

    /// <summary>Saves the identity readable and writable by this user only: it holds the credential.</summary>
    public void SaveIdentity(AgentIdentity identity)
    {
        lock (IdentityLock)
        {
            LocalFault.Guard(IdentityPath, "writing", () => OwnerOnlyFiles.WriteText(IdentityPath, JsonSerializer.Serialize(identity, ProtocolJson.Options), overwrite: true));
        }
    }

    /// <summary>
    /// Changes the identity on disk as it is now (read, changed, written under this file's lock, so an update made meanwhile
    /// by another part of the process is not lost): <paramref name="change"/> returns the identity to save, or the same
    /// instance to save nothing. Returns the identity as saved, or null when there is none.
    /// </summary>
    public AgentIdentity? UpdateIdentity(Func<AgentIdentity, AgentIdentity> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        lock (IdentityLock)
        {
            if (LoadIdentity() is not { } current)
            {
                return null;
            }
            var changed = change(current);
            if (!ReferenceEquals(changed, current))
            {
                LocalFault.Guard(IdentityPath, "writing", () => OwnerOnlyFiles.WriteText(IdentityPath, JsonSerializer.Serialize(changed, ProtocolJson.Options), overwrite: true));
            }
            return changed;
        }
    }

    /// <summary>The credential the registration under way asks for (registration.secret): owner-only, like the identity.</summary>
    private string ChosenCredentialPath => Path.Combine(Folder, "registration.secret");

    /// <summary>
    /// The credential this node asks its registration to give it: made once and kept on disk until the registration is
    /// answered (<see cref="ForgetChosenCredential"/>), so that asking again after a lost answer (a timeout, a cut
    /// connection, this process stopped meanwhile) is the same registration, which the higher system answers as the first
    /// time (<see cref="RegisterRequest.ChosenCredential"/>).
    /// </summary>
    public string ChosenCredential()
    {
        lock (IdentityLock)
        {
            var kept = File.Exists(ChosenCredentialPath) ? File.ReadAllText(ChosenCredentialPath).Trim() : null;
            if (Secrets.IsWellFormed(kept))
            {
                return kept!;
            }
            var chosen = Secrets.NewSecret();
            LocalFault.Guard(ChosenCredentialPath, "writing", () => OwnerOnlyFiles.WriteText(ChosenCredentialPath, chosen, overwrite: true));
            return chosen;
        }
    }

    /// <summary>The registration was answered: the next one (only after a refused credential) chooses a new credential.</summary>
    public void ForgetChosenCredential()
    {
        lock (IdentityLock)
        {
            LocalFault.Guard(ChosenCredentialPath, "deleting", () => File.Delete(ChosenCredentialPath));
        }
    }

    private string FactsHashPath => Path.Combine(Folder, "facts.sha256");

    /// <summary>The hash of the facts the higher system last acknowledged, or null.</summary>
    public string? LoadFactsHash() => File.Exists(FactsHashPath) ? File.ReadAllText(FactsHashPath).Trim() : null;

    public void SaveFactsHash(string hash) => LocalFault.Guard(FactsHashPath, "writing", () =>
    {
        File.WriteAllText(FactsHashPath + ".tmp", hash);
        File.Move(FactsHashPath + ".tmp", FactsHashPath, overwrite: true);
    });

    public string TicketFolder(Guid workItemId) => Path.Combine(WorkFolder, workItemId.ToString("N"));
    public string StagingFolder(Guid workItemId) => Path.Combine(TicketFolder(workItemId), "staging");
    public string DownloadFolder(Guid workItemId) => Path.Combine(TicketFolder(workItemId), "download");
    /// <summary>Where the install wrapper records the install command it runs for the item: its process, then how it ended (<see cref="InstallRecord"/>).</summary>
    public string InstallRecordFolder(Guid workItemId) => Path.Combine(TicketFolder(workItemId), "install");
    private string TicketPath(Guid workItemId) => Path.Combine(TicketFolder(workItemId), "ticket.json");
    private string ProgressPath(Guid workItemId) => Path.Combine(TicketFolder(workItemId), "progress.json");

    public Ticket? LoadTicket(Guid workItemId) => WithProgress(Read<Ticket>(TicketPath(workItemId)));

    public void SaveTicket(Ticket ticket)
    {
        LocalFault.CreateFolder(TicketFolder(ticket.Item.WorkItemId), "the work item's folder");
        Write(TicketPath(ticket.Item.WorkItemId), ticket);
        // The ticket now holds the latest progress; a stale progress file must not override it.
        LocalFault.Guard(ProgressPath(ticket.Item.WorkItemId), "deleting", () => File.Delete(ProgressPath(ticket.Item.WorkItemId)));
    }

    /// <summary>
    /// Saves only a transfer's progress (verified segments, bytes), after every segment. Small on purpose: the ticket
    /// holds the manifest, and rewriting it per segment made the state writes grow with the square of the segment count.
    /// </summary>
    public void SaveProgress(Ticket ticket) =>
        Write(ProgressPath(ticket.Item.WorkItemId), new TransferProgress(ticket.VerifiedSegments, ticket.BytesTransferred, ticket.SegmentsTransferred));

    private Ticket? WithProgress(Ticket? ticket)
    {
        if (ticket is not null && Read<TransferProgress>(ProgressPath(ticket.Item.WorkItemId)) is { } progress)
        {
            ticket.VerifiedSegments.Clear();
            foreach (var (file, count) in progress.VerifiedSegments)
            {
                ticket.VerifiedSegments[file] = count;
            }
            ticket.BytesTransferred = progress.BytesTransferred;
            ticket.SegmentsTransferred = progress.SegmentsTransferred;
        }
        return ticket;
    }

    /// <summary>
    /// Claims a ticket for this process while it acts on it (an exclusive lock on a file in its folder, released when
    /// disposed, or when the process ends), or null when another process holds it: the agent and a user's
    /// <c>jp1dist install</c> on the same state folder never act on one ticket at once.
    /// </summary>
    public IDisposable? TryClaim(Guid workItemId)
    {
        LocalFault.CreateFolder(TicketFolder(workItemId), "the work item's folder");
        var path = Path.Combine(TicketFolder(workItemId), "claim.lock");
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException) when (File.Exists(path))
        {
            return null;
        }
    }

    /// <summary>Every ticket on disk.</summary>
    public IEnumerable<Ticket> AllTickets()
    {
        foreach (var folder in Directory.EnumerateDirectories(WorkFolder))
        {
            var ticket = WithProgress(Read<Ticket>(Path.Combine(folder, "ticket.json")));
            if (ticket is not null)
            {
                yield return ticket;
            }
        }
    }

    /// <summary>
    /// Frees a ticket's files (its staging and download folders: the package and any partial file) but keeps the ticket, so a
    /// repeat of the same work item returns the stored outcome. Returns the bytes freed; what is still in use stays until
    /// the next release.
    /// </summary>
    public long ReleaseFiles(Guid workItemId)
    {
        long freed = 0;
        foreach (var folder in new[] { StagingFolder(workItemId), DownloadFolder(workItemId) })
        {
            try
            {
                if (Directory.Exists(folder))
                {
                    var bytes = new DirectoryInfo(folder).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
                    Directory.Delete(folder, recursive: true);
                    freed += bytes;
                }
            }
            catch (IOException)
            {
                // A file still in use; the next release tries again.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return freed;
    }

    /// <summary>Whether a ticket's staging or download folder is still on disk (a release could not remove everything).</summary>
    public bool HoldsFiles(Guid workItemId) => Directory.Exists(StagingFolder(workItemId)) || Directory.Exists(DownloadFolder(workItemId));

    /// <summary>A JSON file of the state folder; null when missing or unreadable (a write cut short leaves the previous file, or none).</summary>
    internal static T? Read<T>(string path) where T : class
    {
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path), ProtocolJson.Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Writes a JSON file of the state folder whole or not at all (a temporary file renamed into place); a refused write is a <see cref="LocalFaultException"/>.</summary>
    internal static void Write<T>(string path, T value) => LocalFault.Guard(path, "writing", () =>
    {
        var temporary = path + ".tmp";
        try
        {
            File.WriteAllText(temporary, JsonSerializer.Serialize(value, ProtocolJson.Options));
        }
        catch (IOException)
        {
            // A short file left by a full disk would take the space the next attempt needs.
            TryDelete(temporary);
            throw;
        }
        File.Move(temporary, path, overwrite: true);
    });

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The original failure is what the caller hears about.
        }
    }
}
