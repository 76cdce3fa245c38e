namespace JP1Dist.Protocol;

/// <summary>
/// Every limit on what a lower client may send its higher system, in one place: the lengths of strings, the sizes of
/// lists, the ranges of numbers, the query parameters of the long polls, and the request bodies. The manager and every
/// relay apply them through <see cref="RequestValidator"/>; agents fit what they send to them through
/// <see cref="RequestFitting"/>. Each is generous for real machines and says why; docs/architecture.md ("Bounded
/// input") lists them.
/// </summary>
/// <remarks>Lengths count UTF-16 code units, as <see cref="string.Length"/> does.</remarks>
public static class ProtocolLimits
{
    // ---- strings ----

    /// <summary>An enrollment token: its text form is at most this long (<see cref="EnrollmentTokenText.MaxLength"/>).</summary>
    public const int TokenLength = EnrollmentTokenText.MaxLength;

    /// <summary>A host credential presented again at registration: 43 URL-safe base64 characters today; room for a longer one.</summary>
    public const int CredentialLength = 128;

    /// <summary>A host name: a DNS name has at most 253 characters. The name rules (200 after trimming) are checked by the manager and named in their own error.</summary>
    public const int HostNameLength = 255;

    /// <summary>The operating system: Windows, Linux or macOS, or on other systems the runtime's description of it (uname-like, under 200).</summary>
    public const int OSLength = 256;

    /// <summary>The OS version: a four-part version, with room for a distribution's longer form.</summary>
    public const int OSVersionLength = 128;

    /// <summary>The processor architecture: X64, Arm64, X86, Arm, S390x, LoongArch64, Ppc64le, RiscV64.</summary>
    public const int ArchitectureLength = 32;

    /// <summary>The agent's version: a semantic version with pre-release and build metadata (a commit hash) fits in 128.</summary>
    public const int AgentVersionLength = 128;

    /// <summary>One IP address: the longest IPv6 text (with an IPv4 tail) is 45 characters, plus a zone such as %eth0.</summary>
    public const int AddressLength = 64;

    /// <summary>One MAC address: EUI-48 is 17 characters, EUI-64 23, a 20-byte InfiniBand address 59.</summary>
    public const int MacAddressLength = 64;

    /// <summary>A relay's URL: 2,048 characters is the URL length browsers and proxies commonly accept.</summary>
    public const int RelayUrlLength = 2048;

    /// <summary>A report's message: one sentence or an error's message, rarely over a few hundred characters.</summary>
    public const int MessageLength = 8192;

    /// <summary>The tail of an install command's output: the agent keeps its last 8,000 characters; twice that leaves room.</summary>
    public const int OutputTailLength = 16_384;

    /// <summary>An installed software's name: Windows display names run to about 260 characters, package names are shorter.</summary>
    public const int SoftwareNameLength = 512;

    /// <summary>An installed software's version: dpkg versions with epoch and revision stay under 64.</summary>
    public const int SoftwareVersionLength = 128;

    /// <summary>Where the agent read a software entry: dpkg, rpm, Registry, JP1Dist.</summary>
    public const int SoftwareSourceLength = 64;

    /// <summary>A volume's name: a drive letter or a mount point path; container mounts run to a few hundred characters.</summary>
    public const int VolumeNameLength = 1024;

    /// <summary>The tag of a relay's work snapshot (<c>?etag=</c>): the higher system makes 32 hex digits.</summary>
    public const int EtagLength = 128;

    /// <summary>
    /// A relay's certificate signing request (base64 PKCS#10): an ECDSA P-256 or P-384 request takes under 400 characters;
    /// 8,192 leaves room without letting a request grow without bound.
    /// </summary>
    public const int SigningRequestLength = 8192;

    /// <summary>A DNS name in a relay's certificate: at most 253 characters (RFC 1035), labels of letters, digits and hyphens.</summary>
    public const int DnsNameLength = 253;

    // ---- lists ----

    /// <summary>Names (DNS names, and IP addresses, each) in a relay's certificate: its listen host, the computer's name, loopback; 32 is plenty.</summary>
    public const int MaxCertificateNames = 32;

    /// <summary>A host's IP addresses: container and VM hosts carry many interfaces, each with IPv4 and IPv6 addresses.</summary>
    public const int MaxAddresses = 1024;

    /// <summary>A host's MAC addresses: one per interface; container hosts have a virtual interface per container.</summary>
    public const int MaxMacAddresses = 1024;

    /// <summary>A host's volumes: Kubernetes nodes mount several hundred.</summary>
    public const int MaxVolumes = 1024;

    /// <summary>Installed software entries: Windows hosts with 3,000 and more and large Linux hosts with about 5,000 are real.</summary>
    public const int MaxSoftware = 20_000;

    /// <summary>Entries in one relay batch: a relay sends at most 500 queued entries and its hosts' last-seen times.</summary>
    public const int MaxBatchEntries = 1000;

    // ---- numbers ----

    /// <summary>Logical processors: Linux builds for up to 8,192 exist; 0 means not known.</summary>
    public const int MaxCpuCount = 65_536;

    /// <summary>Physical memory in MiB: 1 PiB, far above the largest servers (tens of TiB); 0 means not known.</summary>
    public const long MaxMemoryMB = 1L << 30;

    /// <summary>A volume's size or free space in MiB: 1 EiB.</summary>
    public const long MaxVolumeMB = 1L << 40;

    /// <summary>A long poll's <c>?wait=</c> in seconds: agents ask for <see cref="PollWait"/>; the higher system shortens it to its own maximum.</summary>
    public const int MaxWaitSeconds = 3600;

    /// <summary>
    /// How long a manager or relay holds a poll at most, and so how long an agent asks it to by default: every poll that ends
    /// without work is a request for nothing (at 10,000 idle agents 333 a second at 30 s, 400 at 25 s). A load balancer in
    /// front of the nodes needs an idle timeout above it (docs/operations.md).
    /// </summary>
    public static readonly TimeSpan PollWait = TimeSpan.FromSeconds(30);

    // Exit codes: any 32-bit value (Windows exit codes are NTSTATUS values, negative as Int32); JSON outside Int32 does
    // not read. Bytes and segments transferred and a batch entry's seq: zero or more.

    // ---- bodies ----

    /// <summary>
    /// A request body in general (registration, facts, a relay's batch): 20,000 software entries of typical length take
    /// about 4 MiB of JSON, or more with non-ASCII names (escaped as \uXXXX, six bytes each).
    /// </summary>
    public const long MaxBodyBytes = 16 * 1024 * 1024;

    /// <summary>A relay's certificate request: a signing request and up to 64 names take a few KiB.</summary>
    public const long MaxCertificateRequestBodyBytes = 64 * 1024;

    /// <summary>A report's body: a message and an output tail at their limits, escaped at six bytes a character, take 150 KiB.</summary>
    public const long MaxReportBodyBytes = 1024 * 1024;

    // ---- answers, read by agents and relays from their higher system ----

    /// <summary>
    /// An answer to an agent (its work, a registration, a report's answer): a host's work items with their manifests; a
    /// manifest of a package of 100,000 segments takes about 7 MiB.
    /// </summary>
    public const long MaxAnswerBytes = 64L * 1024 * 1024;

    /// <summary>
    /// A relay's work snapshot: every current item of every host below it, each package's manifest once; 50,000 hosts with
    /// four items each take about 300 MiB.
    /// </summary>
    public const long MaxRelayWorkBytes = 512L * 1024 * 1024;

    /// <summary>A refusal's problem-details body: only its error id and detail are read.</summary>
    public const long MaxProblemBytes = 64 * 1024;

    // ---- manifests ----

    /// <summary>A package's segment size: an agent holds three segments in memory per transfer; packaging allows up to 64 MiB.</summary>
    public const long MaxSegmentSize = 64L * 1024 * 1024;
}
