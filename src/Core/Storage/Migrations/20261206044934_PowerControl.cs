using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace JP1Dist.Core.Storage.Migrations
{
    /// <inheritdoc />
    public partial class PowerControl : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "PowerNote",
                table: "Targets",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<bool>(
                name: "ShutdownAfter",
                table: "Jobs",
                type: "INTEGER",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<int>(
                name: "WakeLeadMinutes",
                table: "Jobs",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<bool>(
                name: "WakeOnLan",
                table: "Jobs",
                type: "INTEGER",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<DateTime>(
                name: "WakeAt",
                table: "JobExecutions",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "WokenAt",
                table: "JobExecutions",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "NetworksJson",
                table: "Hosts",
                type: "TEXT",
                nullable: false,
                defaultValue: "");

            migrationBuilder.CreateTable(
                name: "PowerOrders",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "TEXT", nullable: false),
                    HostId = table.Column<Guid>(type: "TEXT", nullable: false),
                    Action = table.Column<string>(type: "TEXT", nullable: false),
                    GraceSeconds = table.Column<int>(type: "INTEGER", nullable: false),
                    OrderJson = table.Column<string>(type: "TEXT", nullable: false),
                    Signature = table.Column<string>(type: "TEXT", nullable: false),
                    RequestedAt = table.Column<DateTime>(type: "TEXT", nullable: false),
                    ExpiresAt = table.Column<DateTime>(type: "TEXT", nullable: false),
                    State = table.Column<int>(type: "INTEGER", nullable: false),
                    AskedAt = table.Column<DateTime>(type: "TEXT", nullable: true),
                    DoneAt = table.Column<DateTime>(type: "TEXT", nullable: true),
                    Message = table.Column<string>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_PowerOrders", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "WakeOrders",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "TEXT", nullable: false),
                    RelayId = table.Column<Guid>(type: "TEXT", nullable: false),
                    HostId = table.Column<Guid>(type: "TEXT", nullable: false),
                    OrderJson = table.Column<string>(type: "TEXT", nullable: false),
                    Signature = table.Column<string>(type: "TEXT", nullable: false),
                    CreatedAt = table.Column<DateTime>(type: "TEXT", nullable: false),
                    ExpiresAt = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_WakeOrders", x => x.Id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_PowerOrders_HostId_State",
                table: "PowerOrders",
                columns: new[] { "HostId", "State" });

            migrationBuilder.CreateIndex(
                name: "IX_WakeOrders_ExpiresAt",
                table: "WakeOrders",
                column: "ExpiresAt");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "PowerOrders");

            migrationBuilder.DropTable(
                name: "WakeOrders");

            migrationBuilder.DropColumn(
                name: "PowerNote",
                table: "Targets");

            migrationBuilder.DropColumn(
                name: "ShutdownAfter",
                table: "Jobs");

            migrationBuilder.DropColumn(
                name: "WakeLeadMinutes",
                table: "Jobs");

            migrationBuilder.DropColumn(
                name: "WakeOnLan",
                table: "Jobs");

            migrationBuilder.DropColumn(
                name: "WakeAt",
                table: "JobExecutions");

            migrationBuilder.DropColumn(
                name: "WokenAt",
                table: "JobExecutions");

            migrationBuilder.DropColumn(
                name: "NetworksJson",
                table: "Hosts");
        }
    }
}
