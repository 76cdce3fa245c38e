using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace JP1Dist.Core.Storage.Migrations
{
    /// <inheritdoc />
    public partial class Relays : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<DateTime>(
                name: "StoredUntil",
                table: "Targets",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "ExpiresAt",
                table: "Packages",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "Kind",
                table: "Hosts",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<Guid>(
                name: "ParentHostId",
                table: "Hosts",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "RelayUrl",
                table: "Hosts",
                type: "TEXT",
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "IX_Hosts_ParentHostId",
                table: "Hosts",
                column: "ParentHostId");

            migrationBuilder.AddForeignKey(
                name: "FK_Hosts_Hosts_ParentHostId",
                table: "Hosts",
                column: "ParentHostId",
                principalTable: "Hosts",
                principalColumn: "Id",
                onDelete: ReferentialAction.Restrict);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropForeignKey(
                name: "FK_Hosts_Hosts_ParentHostId",
                table: "Hosts");

            migrationBuilder.DropIndex(
                name: "IX_Hosts_ParentHostId",
                table: "Hosts");

            migrationBuilder.DropColumn(
                name: "StoredUntil",
                table: "Targets");

            migrationBuilder.DropColumn(
                name: "ExpiresAt",
                table: "Packages");

            migrationBuilder.DropColumn(
                name: "Kind",
                table: "Hosts");

            migrationBuilder.DropColumn(
                name: "ParentHostId",
                table: "Hosts");

            migrationBuilder.DropColumn(
                name: "RelayUrl",
                table: "Hosts");
        }
    }
}
