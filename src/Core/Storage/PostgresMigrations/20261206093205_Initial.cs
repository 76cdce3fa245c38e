using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace JP1Dist.Core.Storage.PostgresMigrations
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "AccessKeys",
                columns: table => new
                {
                    Id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    Name = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    NameKey = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    Role = table.Column<int>(type: "integer", nullable: false),
                    KeyId = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    SecretHash = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    Description = table.Column<string>(type: "text", nullable: true, collation: "C"),
                    CreatedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    CreatedBy = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    ExpiresAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    LastUsedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    RemovedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_AccessKeys", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "AuditEntries",
                columns: table => new
                {
                    Id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    At = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    Principal = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    Source = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    Operation = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    Target = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    ParametersJson = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    Outcome = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_AuditEntries", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "EnrollmentTokens",
                columns: table => new
                {
                    Id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    TokenHash = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    Description = table.Column<string>(type: "text", nullable: true, collation: "C"),
                    CreatedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    UseCount = table.Column<int>(type: "integer", nullable: false),
                    LastUsedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    ExpiresAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    MaxUses = table.Column<int>(type: "integer", nullable: true),
                    ForRelays = table.Column<bool>(type: "boolean", nullable: false),
                    RequireApproval = table.Column<bool>(type: "boolean", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_EnrollmentTokens", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "HostGroups",
                columns: table => new
                {
                    Id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    Name = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    NameKey = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    Description = table.Column<string>(type: "text", nullable: true, collation: "C"),
                    CreatedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_HostGroups", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "Hosts",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "uuid", nullable: false),
                    Name = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    NameKey = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    OS = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    OSVersion = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    Architecture = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    AddressesJson = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    MacAddress = table.Column<string>(type: "text", nullable: true, collation: "C"),
                    AgentVersion = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    CredentialHash = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    RegisteredAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    LastSeen = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    CpuCount = table.Column<int>(type: "integer", nullable: false),
                    MemoryMB = table.Column<long>(type: "bigint", nullable: false),
                    VolumesJson = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    MacAddressesJson = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    NetworksJson = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    FactsHash = table.Column<string>(type: "text", nullable: true, collation: "C"),
                    FactsUpdatedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    Kind = table.Column<int>(type: "integer", nullable: false),
                    ParentHostId = table.Column<Guid>(type: "uuid", nullable: true),
                    RelayUrl = table.Column<string>(type: "text", nullable: true, collation: "C")
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_Hosts", x => x.Id);
                    table.ForeignKey(
                        name: "FK_Hosts_Hosts_ParentHostId",
                        column: x => x.ParentHostId,
                        principalTable: "Hosts",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "IdGroups",
                columns: table => new
                {
                    Id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    Name = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    NameKey = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    Description = table.Column<string>(type: "text", nullable: true, collation: "C"),
                    CreatedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    PolicyJson = table.Column<string>(type: "text", nullable: true, collation: "C"),
                    PolicyUpdatedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_IdGroups", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "ManagerNodes",
                columns: table => new
                {
                    NodeId = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    Url = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    ProcessId = table.Column<int>(type: "integer", nullable: false),
                    MachineName = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    StartedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    HeartbeatAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    CertificatePin = table.Column<string>(type: "text", nullable: true, collation: "C")
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_ManagerNodes", x => x.NodeId);
                });

            migrationBuilder.CreateTable(
                name: "Packages",
                columns: table => new
                {
                    Id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    Name = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    NameKey = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    Version = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    Description = table.Column<string>(type: "text", nullable: true, collation: "C"),
                    InstallCommand = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    InstallArgumentsJson = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    SuccessExitCodesJson = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    InstallTimeoutSeconds = table.Column<int>(type: "integer", nullable: false),
                    SegmentSize = table.Column<long>(type: "bigint", nullable: false),
                    TotalBytes = table.Column<long>(type: "bigint", nullable: false),
                    FileCount = table.Column<int>(type: "integer", nullable: false),
                    SegmentCount = table.Column<int>(type: "integer", nullable: false),
                    ManifestJson = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    ManifestSignature = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    ManifestSigningKey = table.Column<string>(type: "text", nullable: true, collation: "C"),
                    CreatedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    InstallConditionsJson = table.Column<string>(type: "text", nullable: true, collation: "C"),
                    InstallAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    ExpiresAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_Packages", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "PendingEnrollments",
                columns: table => new
                {
                    Id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    HostId = table.Column<Guid>(type: "uuid", nullable: false),
                    Name = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    NameKey = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    Kind = table.Column<int>(type: "integer", nullable: false),
                    ParentHostId = table.Column<Guid>(type: "uuid", nullable: true),
                    RegistrationJson = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    CredentialHash = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    TokenId = table.Column<int>(type: "integer", nullable: true),
                    RequestedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    ReplacesHostId = table.Column<Guid>(type: "uuid", nullable: true),
                    ApprovedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    CollectedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_PendingEnrollments", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "PowerOrders",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "uuid", nullable: false),
                    HostId = table.Column<Guid>(type: "uuid", nullable: false),
                    Action = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    GraceSeconds = table.Column<int>(type: "integer", nullable: false),
                    OrderJson = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    Signature = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    RequestedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    ExpiresAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    State = table.Column<int>(type: "integer", nullable: false),
                    AskedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    DoneAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    Message = table.Column<string>(type: "text", nullable: true, collation: "C")
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_PowerOrders", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "RevokedCredentials",
                columns: table => new
                {
                    Id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    HostId = table.Column<Guid>(type: "uuid", nullable: false),
                    CredentialHash = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    Name = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    Reason = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    RevokedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_RevokedCredentials", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "SigningKeys",
                columns: table => new
                {
                    Id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    Fingerprint = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    PublicKey = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    FileName = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    CreatedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    RetiresAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    PredecessorId = table.Column<int>(type: "integer", nullable: true),
                    AnnouncementSignature = table.Column<string>(type: "text", nullable: true, collation: "C")
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_SigningKeys", x => x.Id);
                    table.ForeignKey(
                        name: "FK_SigningKeys_SigningKeys_PredecessorId",
                        column: x => x.PredecessorId,
                        principalTable: "SigningKeys",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "WakeOrders",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "uuid", nullable: false),
                    RelayId = table.Column<Guid>(type: "uuid", nullable: false),
                    HostId = table.Column<Guid>(type: "uuid", nullable: false),
                    OrderJson = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    Signature = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    CreatedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    ExpiresAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    ExecutionId = table.Column<int>(type: "integer", nullable: true),
                    Message = table.Column<string>(type: "text", nullable: true, collation: "C"),
                    ReportedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_WakeOrders", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "HostGroupNesting",
                columns: table => new
                {
                    ParentId = table.Column<int>(type: "integer", nullable: false),
                    ChildId = table.Column<int>(type: "integer", nullable: false),
                    AddedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_HostGroupNesting", x => new { x.ParentId, x.ChildId });
                    table.ForeignKey(
                        name: "FK_HostGroupNesting_HostGroups_ChildId",
                        column: x => x.ChildId,
                        principalTable: "HostGroups",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "FK_HostGroupNesting_HostGroups_ParentId",
                        column: x => x.ParentId,
                        principalTable: "HostGroups",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "HostGroupMembers",
                columns: table => new
                {
                    GroupId = table.Column<int>(type: "integer", nullable: false),
                    HostId = table.Column<Guid>(type: "uuid", nullable: false),
                    AddedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_HostGroupMembers", x => new { x.GroupId, x.HostId });
                    table.ForeignKey(
                        name: "FK_HostGroupMembers_HostGroups_GroupId",
                        column: x => x.GroupId,
                        principalTable: "HostGroups",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "FK_HostGroupMembers_Hosts_HostId",
                        column: x => x.HostId,
                        principalTable: "Hosts",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "HostSoftware",
                columns: table => new
                {
                    Id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    HostId = table.Column<Guid>(type: "uuid", nullable: false),
                    Name = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    NameKey = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    Version = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    Source = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    RecordedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_HostSoftware", x => x.Id);
                    table.ForeignKey(
                        name: "FK_HostSoftware_Hosts_HostId",
                        column: x => x.HostId,
                        principalTable: "Hosts",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "IdGroupMembers",
                columns: table => new
                {
                    IdGroupId = table.Column<int>(type: "integer", nullable: false),
                    HostId = table.Column<Guid>(type: "uuid", nullable: false),
                    Source = table.Column<int>(type: "integer", nullable: false),
                    AddedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_IdGroupMembers", x => new { x.IdGroupId, x.HostId });
                    table.ForeignKey(
                        name: "FK_IdGroupMembers_Hosts_HostId",
                        column: x => x.HostId,
                        principalTable: "Hosts",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "FK_IdGroupMembers_IdGroups_IdGroupId",
                        column: x => x.IdGroupId,
                        principalTable: "IdGroups",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "Jobs",
                columns: table => new
                {
                    Id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    Name = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    NameKey = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    PackageId = table.Column<int>(type: "integer", nullable: false),
                    Type = table.Column<int>(type: "integer", nullable: false),
                    DistributeAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    Description = table.Column<string>(type: "text", nullable: true, collation: "C"),
                    CreatedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    ExecutionCount = table.Column<int>(type: "integer", nullable: false),
                    LastExecutedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    DestinationType = table.Column<int>(type: "integer", nullable: false),
                    IdGroupId = table.Column<int>(type: "integer", nullable: true),
                    RetryLimit = table.Column<int>(type: "integer", nullable: false),
                    InstallConditionsJson = table.Column<string>(type: "text", nullable: true, collation: "C"),
                    InstallAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    SegmentIntervalSeconds = table.Column<double>(type: "double precision", nullable: false),
                    BandwidthLimitKBps = table.Column<int>(type: "integer", nullable: false),
                    RebootAfter = table.Column<bool>(type: "boolean", nullable: false),
                    ShutdownAfter = table.Column<bool>(type: "boolean", nullable: false),
                    WakeOnLan = table.Column<bool>(type: "boolean", nullable: false),
                    WakeLeadMinutes = table.Column<int>(type: "integer", nullable: false),
                    PreDownload = table.Column<bool>(type: "boolean", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_Jobs", x => x.Id);
                    table.ForeignKey(
                        name: "FK_Jobs_IdGroups_IdGroupId",
                        column: x => x.IdGroupId,
                        principalTable: "IdGroups",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Restrict);
                    table.ForeignKey(
                        name: "FK_Jobs_Packages_PackageId",
                        column: x => x.PackageId,
                        principalTable: "Packages",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "JobDestinations",
                columns: table => new
                {
                    JobId = table.Column<int>(type: "integer", nullable: false),
                    HostId = table.Column<Guid>(type: "uuid", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_JobDestinations", x => new { x.JobId, x.HostId });
                    table.ForeignKey(
                        name: "FK_JobDestinations_Hosts_HostId",
                        column: x => x.HostId,
                        principalTable: "Hosts",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Restrict);
                    table.ForeignKey(
                        name: "FK_JobDestinations_Jobs_JobId",
                        column: x => x.JobId,
                        principalTable: "Jobs",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "JobExecutions",
                columns: table => new
                {
                    Id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    JobId = table.Column<int>(type: "integer", nullable: false),
                    RequestedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    ExecuteAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    ScheduledAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    DispatchedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    TargetCount = table.Column<int>(type: "integer", nullable: false),
                    IsRestart = table.Column<bool>(type: "boolean", nullable: false),
                    WakeAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    WokenAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_JobExecutions", x => x.Id);
                    table.ForeignKey(
                        name: "FK_JobExecutions_Jobs_JobId",
                        column: x => x.JobId,
                        principalTable: "Jobs",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "JobHostGroups",
                columns: table => new
                {
                    JobId = table.Column<int>(type: "integer", nullable: false),
                    HostGroupId = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_JobHostGroups", x => new { x.JobId, x.HostGroupId });
                    table.ForeignKey(
                        name: "FK_JobHostGroups_HostGroups_HostGroupId",
                        column: x => x.HostGroupId,
                        principalTable: "HostGroups",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Restrict);
                    table.ForeignKey(
                        name: "FK_JobHostGroups_Jobs_JobId",
                        column: x => x.JobId,
                        principalTable: "Jobs",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "Targets",
                columns: table => new
                {
                    Id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    JobId = table.Column<int>(type: "integer", nullable: false),
                    HostId = table.Column<Guid>(type: "uuid", nullable: false),
                    Status = table.Column<int>(type: "integer", nullable: false),
                    Attempt = table.Column<int>(type: "integer", nullable: false),
                    ExecutionId = table.Column<int>(type: "integer", nullable: false),
                    WorkItemId = table.Column<Guid>(type: "uuid", nullable: false),
                    ExitCode = table.Column<int>(type: "integer", nullable: true),
                    Message = table.Column<string>(type: "text", nullable: true, collation: "C"),
                    OutputTail = table.Column<string>(type: "text", nullable: true, collation: "C"),
                    BytesTransferred = table.Column<long>(type: "bigint", nullable: false),
                    SegmentsTransferred = table.Column<int>(type: "integer", nullable: false),
                    InstallAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    JobSettingsJson = table.Column<string>(type: "text", nullable: true, collation: "C"),
                    JobSettingsSignature = table.Column<string>(type: "text", nullable: true, collation: "C"),
                    SettingsSigningKey = table.Column<string>(type: "text", nullable: true, collation: "C"),
                    SettingsExpiresAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    UpdatedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    CreatedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    QueuedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    StartedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    CompletedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    StoredUntil = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    ServedByHostId = table.Column<Guid>(type: "uuid", nullable: true),
                    PowerNote = table.Column<string>(type: "text", nullable: true, collation: "C")
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_Targets", x => x.Id);
                    table.ForeignKey(
                        name: "FK_Targets_Hosts_HostId",
                        column: x => x.HostId,
                        principalTable: "Hosts",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Restrict);
                    table.ForeignKey(
                        name: "FK_Targets_Jobs_JobId",
                        column: x => x.JobId,
                        principalTable: "Jobs",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "OfflineMedia",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "uuid", nullable: false),
                    TargetId = table.Column<long>(type: "bigint", nullable: false),
                    HostId = table.Column<Guid>(type: "uuid", nullable: false),
                    WorkItemId = table.Column<Guid>(type: "uuid", nullable: false),
                    ResultKey = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    CreatedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    CreatedBy = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    ImportedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_OfflineMedia", x => x.Id);
                    table.ForeignKey(
                        name: "FK_OfflineMedia_Targets_TargetId",
                        column: x => x.TargetId,
                        principalTable: "Targets",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_AccessKeys_KeyId",
                table: "AccessKeys",
                column: "KeyId",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_AccessKeys_NameKey",
                table: "AccessKeys",
                column: "NameKey",
                unique: true,
                filter: "\"RemovedAt\" IS NULL");

            migrationBuilder.CreateIndex(
                name: "IX_AuditEntries_At",
                table: "AuditEntries",
                column: "At");

            migrationBuilder.CreateIndex(
                name: "IX_EnrollmentTokens_TokenHash",
                table: "EnrollmentTokens",
                column: "TokenHash",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_HostGroupMembers_HostId",
                table: "HostGroupMembers",
                column: "HostId");

            migrationBuilder.CreateIndex(
                name: "IX_HostGroupNesting_ChildId",
                table: "HostGroupNesting",
                column: "ChildId");

            migrationBuilder.CreateIndex(
                name: "IX_HostGroups_NameKey",
                table: "HostGroups",
                column: "NameKey",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_Hosts_NameKey",
                table: "Hosts",
                column: "NameKey",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_Hosts_ParentHostId",
                table: "Hosts",
                column: "ParentHostId");

            migrationBuilder.CreateIndex(
                name: "IX_HostSoftware_HostId_NameKey",
                table: "HostSoftware",
                columns: new[] { "HostId", "NameKey" });

            migrationBuilder.CreateIndex(
                name: "IX_HostSoftware_NameKey",
                table: "HostSoftware",
                column: "NameKey");

            migrationBuilder.CreateIndex(
                name: "IX_IdGroupMembers_HostId",
                table: "IdGroupMembers",
                column: "HostId");

            migrationBuilder.CreateIndex(
                name: "IX_IdGroups_NameKey",
                table: "IdGroups",
                column: "NameKey",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_JobDestinations_HostId",
                table: "JobDestinations",
                column: "HostId");

            migrationBuilder.CreateIndex(
                name: "IX_JobExecutions_JobId",
                table: "JobExecutions",
                column: "JobId");

            migrationBuilder.CreateIndex(
                name: "IX_JobExecutions_ScheduledAt",
                table: "JobExecutions",
                column: "ScheduledAt");

            migrationBuilder.CreateIndex(
                name: "IX_JobHostGroups_HostGroupId",
                table: "JobHostGroups",
                column: "HostGroupId");

            migrationBuilder.CreateIndex(
                name: "IX_Jobs_IdGroupId",
                table: "Jobs",
                column: "IdGroupId");

            migrationBuilder.CreateIndex(
                name: "IX_Jobs_NameKey",
                table: "Jobs",
                column: "NameKey",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_Jobs_PackageId",
                table: "Jobs",
                column: "PackageId");

            migrationBuilder.CreateIndex(
                name: "IX_OfflineMedia_TargetId",
                table: "OfflineMedia",
                column: "TargetId");

            migrationBuilder.CreateIndex(
                name: "IX_Packages_NameKey_Version",
                table: "Packages",
                columns: new[] { "NameKey", "Version" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_PendingEnrollments_HostId",
                table: "PendingEnrollments",
                column: "HostId");

            migrationBuilder.CreateIndex(
                name: "IX_PendingEnrollments_NameKey",
                table: "PendingEnrollments",
                column: "NameKey",
                unique: true,
                filter: "\"ApprovedAt\" IS NULL");

            migrationBuilder.CreateIndex(
                name: "IX_PowerOrders_HostId_State",
                table: "PowerOrders",
                columns: new[] { "HostId", "State" });

            migrationBuilder.CreateIndex(
                name: "IX_RevokedCredentials_HostId_CredentialHash",
                table: "RevokedCredentials",
                columns: new[] { "HostId", "CredentialHash" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_SigningKeys_Fingerprint",
                table: "SigningKeys",
                column: "Fingerprint",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_SigningKeys_PredecessorId",
                table: "SigningKeys",
                column: "PredecessorId",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_Targets_ExecutionId",
                table: "Targets",
                column: "ExecutionId");

            migrationBuilder.CreateIndex(
                name: "IX_Targets_HostId_Status",
                table: "Targets",
                columns: new[] { "HostId", "Status" });

            migrationBuilder.CreateIndex(
                name: "IX_Targets_JobId_HostId",
                table: "Targets",
                columns: new[] { "JobId", "HostId" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_Targets_JobId_Status",
                table: "Targets",
                columns: new[] { "JobId", "Status" });

            migrationBuilder.CreateIndex(
                name: "IX_Targets_WorkItemId",
                table: "Targets",
                column: "WorkItemId",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_WakeOrders_ExpiresAt",
                table: "WakeOrders",
                column: "ExpiresAt");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "AccessKeys");

            migrationBuilder.DropTable(
                name: "AuditEntries");

            migrationBuilder.DropTable(
                name: "EnrollmentTokens");

            migrationBuilder.DropTable(
                name: "HostGroupMembers");

            migrationBuilder.DropTable(
                name: "HostGroupNesting");

            migrationBuilder.DropTable(
                name: "HostSoftware");

            migrationBuilder.DropTable(
                name: "IdGroupMembers");

            migrationBuilder.DropTable(
                name: "JobDestinations");

            migrationBuilder.DropTable(
                name: "JobExecutions");

            migrationBuilder.DropTable(
                name: "JobHostGroups");

            migrationBuilder.DropTable(
                name: "ManagerNodes");

            migrationBuilder.DropTable(
                name: "OfflineMedia");

            migrationBuilder.DropTable(
                name: "PendingEnrollments");

            migrationBuilder.DropTable(
                name: "PowerOrders");

            migrationBuilder.DropTable(
                name: "RevokedCredentials");

            migrationBuilder.DropTable(
                name: "SigningKeys");

            migrationBuilder.DropTable(
                name: "WakeOrders");

            migrationBuilder.DropTable(
                name: "HostGroups");

            migrationBuilder.DropTable(
                name: "Targets");

            migrationBuilder.DropTable(
                name: "Hosts");

            migrationBuilder.DropTable(
                name: "Jobs");

            migrationBuilder.DropTable(
                name: "IdGroups");

            migrationBuilder.DropTable(
                name: "Packages");
        }
    }
}
