using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace JP1Dist.Core.Storage.Migrations
{
    /// <inheritdoc />
    public partial class DestinationsAndConditions : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<DateTime>(
                name: "CreatedAt",
                table: "Targets",
                type: "TEXT",
                nullable: false,
                defaultValue: new DateTime(1, 1, 1, 0, 0, 0, 0, DateTimeKind.Unspecified));

            migrationBuilder.AddColumn<DateTime>(
                name: "InstallAt",
                table: "Targets",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "JobSettingsJson",
                table: "Targets",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "JobSettingsSignature",
                table: "Targets",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "SegmentsTransferred",
                table: "Targets",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<DateTime>(
                name: "InstallAt",
                table: "Packages",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "InstallConditionsJson",
                table: "Packages",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "BandwidthLimitKBps",
                table: "Jobs",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<int>(
                name: "DestinationType",
                table: "Jobs",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<int>(
                name: "IdGroupId",
                table: "Jobs",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "InstallAt",
                table: "Jobs",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "InstallConditionsJson",
                table: "Jobs",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "RetryLimit",
                table: "Jobs",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<double>(
                name: "SegmentIntervalSeconds",
                table: "Jobs",
                type: "REAL",
                nullable: false,
                defaultValue: 0.0);

            migrationBuilder.AddColumn<int>(
                name: "CpuCount",
                table: "Hosts",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<string>(
                name: "FactsHash",
                table: "Hosts",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "FactsUpdatedAt",
                table: "Hosts",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "MacAddressesJson",
                table: "Hosts",
                type: "TEXT",
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<long>(
                name: "MemoryMB",
                table: "Hosts",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0L);

            migrationBuilder.AddColumn<string>(
                name: "VolumesJson",
                table: "Hosts",
                type: "TEXT",
                nullable: false,
                defaultValue: "");

            migrationBuilder.CreateTable(
                name: "HostGroups",
                columns: table => new
                {
                    Id = table.Column<int>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    Name = table.Column<string>(type: "TEXT", nullable: false),
                    NameKey = table.Column<string>(type: "TEXT", nullable: false),
                    Description = table.Column<string>(type: "TEXT", nullable: true),
                    CreatedAt = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_HostGroups", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "HostSoftware",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    HostId = table.Column<Guid>(type: "TEXT", nullable: false),
                    Name = table.Column<string>(type: "TEXT", nullable: false),
                    NameKey = table.Column<string>(type: "TEXT", nullable: false),
                    Version = table.Column<string>(type: "TEXT", nullable: false),
                    Source = table.Column<string>(type: "TEXT", nullable: false),
                    RecordedAt = table.Column<DateTime>(type: "TEXT", nullable: false)
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
                name: "IdGroups",
                columns: table => new
                {
                    Id = table.Column<int>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    Name = table.Column<string>(type: "TEXT", nullable: false),
                    NameKey = table.Column<string>(type: "TEXT", nullable: false),
                    Description = table.Column<string>(type: "TEXT", nullable: true),
                    CreatedAt = table.Column<DateTime>(type: "TEXT", nullable: false),
                    PolicyJson = table.Column<string>(type: "TEXT", nullable: true),
                    PolicyUpdatedAt = table.Column<DateTime>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_IdGroups", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "HostGroupMembers",
                columns: table => new
                {
                    GroupId = table.Column<int>(type: "INTEGER", nullable: false),
                    HostId = table.Column<Guid>(type: "TEXT", nullable: false),
                    AddedAt = table.Column<DateTime>(type: "TEXT", nullable: false)
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
                name: "HostGroupNesting",
                columns: table => new
                {
                    ParentId = table.Column<int>(type: "INTEGER", nullable: false),
                    ChildId = table.Column<int>(type: "INTEGER", nullable: false),
                    AddedAt = table.Column<DateTime>(type: "TEXT", nullable: false)
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
                name: "JobHostGroups",
                columns: table => new
                {
                    JobId = table.Column<int>(type: "INTEGER", nullable: false),
                    HostGroupId = table.Column<int>(type: "INTEGER", nullable: false)
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
                name: "IdGroupMembers",
                columns: table => new
                {
                    IdGroupId = table.Column<int>(type: "INTEGER", nullable: false),
                    HostId = table.Column<Guid>(type: "TEXT", nullable: false),
                    Source = table.Column<int>(type: "INTEGER", nullable: false),
                    AddedAt = table.Column<DateTime>(type: "TEXT", nullable: false)
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

            migrationBuilder.CreateIndex(
                name: "IX_Jobs_IdGroupId",
                table: "Jobs",
                column: "IdGroupId");

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
                name: "IX_JobHostGroups_HostGroupId",
                table: "JobHostGroups",
                column: "HostGroupId");

            migrationBuilder.AddForeignKey(
                name: "FK_Jobs_IdGroups_IdGroupId",
                table: "Jobs",
                column: "IdGroupId",
                principalTable: "IdGroups",
                principalColumn: "Id",
                onDelete: ReferentialAction.Restrict);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropForeignKey(
                name: "FK_Jobs_IdGroups_IdGroupId",
                table: "Jobs");

            migrationBuilder.DropTable(
                name: "HostGroupMembers");

            migrationBuilder.DropTable(
                name: "HostGroupNesting");

            migrationBuilder.DropTable(
                name: "HostSoftware");

            migrationBuilder.DropTable(
                name: "IdGroupMembers");

            migrationBuilder.DropTable(
                name: "JobHostGroups");

            migrationBuilder.DropTable(
                name: "IdGroups");

            migrationBuilder.DropTable(
                name: "HostGroups");

            migrationBuilder.DropIndex(
                name: "IX_Jobs_IdGroupId",
                table: "Jobs");

            migrationBuilder.DropColumn(
                name: "CreatedAt",
                table: "Targets");

            migrationBuilder.DropColumn(
                name: "InstallAt",
                table: "Targets");

            migrationBuilder.DropColumn(
                name: "JobSettingsJson",
                table: "Targets");

            migrationBuilder.DropColumn(
                name: "JobSettingsSignature",
                table: "Targets");

            migrationBuilder.DropColumn(
                name: "SegmentsTransferred",
                table: "Targets");

            migrationBuilder.DropColumn(
                name: "InstallAt",
                table: "Packages");

            migrationBuilder.DropColumn(
                name: "InstallConditionsJson",
                table: "Packages");

            migrationBuilder.DropColumn(
                name: "BandwidthLimitKBps",
                table: "Jobs");

            migrationBuilder.DropColumn(
                name: "DestinationType",
                table: "Jobs");

            migrationBuilder.DropColumn(
                name: "IdGroupId",
                table: "Jobs");

            migrationBuilder.DropColumn(
                name: "InstallAt",
                table: "Jobs");

            migrationBuilder.DropColumn(
                name: "InstallConditionsJson",
                table: "Jobs");

            migrationBuilder.DropColumn(
                name: "RetryLimit",
                table: "Jobs");

            migrationBuilder.DropColumn(
                name: "SegmentIntervalSeconds",
                table: "Jobs");

            migrationBuilder.DropColumn(
                name: "CpuCount",
                table: "Hosts");

            migrationBuilder.DropColumn(
                name: "FactsHash",
                table: "Hosts");

            migrationBuilder.DropColumn(
                name: "FactsUpdatedAt",
                table: "Hosts");

            migrationBuilder.DropColumn(
                name: "MacAddressesJson",
                table: "Hosts");

            migrationBuilder.DropColumn(
                name: "MemoryMB",
                table: "Hosts");

            migrationBuilder.DropColumn(
                name: "VolumesJson",
                table: "Hosts");
        }
    }
}
