"""Name and street lists of the synthetic nation, by origin.

Modest, hand-written lists of common names (no real person is meant). Origins: ``nl`` (Flemish),
``fr`` (Walloon / Brussels French), ``de`` (East Belgium), and the larger immigrant communities ``it``,
``es``, ``pt``, ``pl``, ``ro``, ``ma`` (Morocco), ``tr`` (Türkiye). Each origin has male and female first
names and last names; streets exist per address language (nl, fr, de) and per foreign country of residence.
"""

from __future__ import annotations

from typing import Final


def _split(text: str) -> tuple[str, ...]:
    items = (item.strip() for item in text.replace("\n", ",").split(","))
    return tuple(dict.fromkeys(item for item in items if item))  # de-duplicated, order kept


ORIGINS: Final = ("nl", "fr", "de", "it", "es", "pt", "pl", "ro", "ma", "tr")

LAST_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "nl": _split("""
        Peeters, Janssens, Maes, Jacobs, Mertens, Willems, Claes, Goossens, Wouters, De Smet, Hermans,
        Aerts, Martens, Claeys, De Clercq, Pauwels, Stevens, Van Damme, Wuyts, Cools, Desmet, Segers,
        Verhoeven, Vermeulen, De Backer, Michiels, Van de Velde, Hendrickx, Smets, Coppens, Verstraete, De
        Vos, Declercq, Lemmens, Vandenberghe, Van den Broeck, Jansen, Bogaerts, Thys, Verbruggen, Van Dyck,
        Geerts, Van Hoof, Luyten, Vos, Baert, Dierickx, Vanderstraeten, Desmedt, De Meyer, Vervoort,
        Bauwens, Vandamme, Verlinden, Wijns, Van Acker, Verbeke, Van Hecke, Dewulf, De Wilde, Maertens,
        Cornelis, Boone, Van Loo, Sels, Van Gorp, Verbeeck, Mortier, Moens, Vanhoutte, Devos, Vermeiren,
        Callens, Claessens, Schepers, Van Aken, Van Looy, Dhondt, Vercammen, Heylen, Van Camp, Somers,
        Lenaerts, Dewitte, Verheyen, Verschueren, Vanhove, Dumon, Vlaeminck, Dockx, Nys, Buys, Rogiers,
        Beckers, Verhaegen, De Cock, Lauwers, Huysmans, Van Laere, Bracke, Goethals, Dierckx, Verhulst, Van
        Belle, De Bruyne, Van der Auwera, Van Hove, Stroobants, Gielen, Daems, Van Rossem, Roels, Reynaert,
        Vandewalle, Coene, Verhelst, Vanneste, Hoste, Cuypers, Van Houtte, Vandevelde, Van Gestel, Moreels,
        De Roover, Wauters, Timmermans, Van Rompaey, Deckers, Vanderhaegen, Van Hulle, De Keyser, Van Parys,
        Vandeputte, De Ridder, Van Steenkiste, Pieters, Van Dam, Bosmans, Coucke, De Pauw, Dedecker,
        Lambrecht, Van Mol, Vandenbussche, Decock, Vanmeirhaeghe, Haesaert, De Groote, Verbist, Moons, Van
        Campenhout, Van Ransbeeck, Hens, Verachtert, Bastiaens, Swinnen, Mommaerts, Van Nuffel, Wyns, Geens,
        Van Bael, Tack, Ceulemans, Van Hees, Peetermans, Bollen, Vandersmissen, Van Herck, Vanderlinden,
        Vliegen, Nijs, Van der Meulen, Spaepen, Philips, Willaert, Van Eeckhout, Van den Bossche, Ghysels,
        Vercauteren, Van Impe, Verlinde, Stragier, Vanhaecke, De Graeve, Vanackere, Van Overmeire, Dhaene,
        Meeus, Vinck
    """),
    "fr": _split("""
        Dubois, Lambert, Dupont, Martin, Simon, Leclercq, Laurent, Dumont, Leroy, Renard, Lejeune, Denis,
        Lemaire, François, Mathieu, Gilson, Collard, Thomas, Henry, Hubert, Michel, Petit, Noël, Maréchal,
        Gérard, Lefèbvre, Fontaine, Dethier, Charlier, Jacques, Marchal, Gillet, Lecomte, Bertrand, Piette,
        Rousseau, Wilmotte, Goffin, Massart, Pirard, Jacquet, Delvaux, Poncelet, Servais, Baudoux, Robert,
        Lhoest, Bodart, Remacle, Pirson, Dubuisson, Lecocq, Mercier, Cornet, Colin, Bernard, Dupuis,
        Legrand, Moreau, Etienne, Guillaume, Lambot, Hardy, Adam, Roland, Jadot, Collignon, Gobert,
        Marchand, Vincent, Georges, Delhaye, Dumoulin, Lebrun, Leblanc, Rigaux, Bastin, Pire, Thiry,
        Lambotte, Louis, Dujardin, Dehon, Debroux, Lejoly, Halleux, Lardinois, Mahieu, Mathy, Paquet,
        Parmentier, Renier, Stassart, Thonon, Toussaint, Warnier, Willame, Wéry, Bayot, Bouvier, Carlier,
        Closset, Delcourt, Delforge, Demoulin, Detry, Dewez, Didier, Fabry, Fraiture, Gaspard, Genot,
        Grégoire, Hennuy, Hermant, Jamar, Joris, Lacroix, Lefebvre, Lemoine, Léonard, Libert, Lorent,
        Materne, Minet, Monfort, Nicolas, Pierre, Poulain, Renson, Rosier, Sauvage, Tilmant, Dessart,
        Deprez, Duchêne, Delattre, Hanquet, Jaspar, Kinet, Laloux, Leonet, Mottet, Navez, Pêcheur, Quoilin,
        Rasquin, Sépulchre, Thibaut, Urbain, Vanderick, Warzée, Bouchat, Colson, Dardenne, Englebert,
        Fischer, Godfroid, Hanset, Istasse, Jeanmart, Knaepen, Lurquin, Malchair, Nollet, Ortmans, Pâques,
        Raskin, Schoonbroodt, Tasiaux, Vanderheyden, Wauthier
    """),
    "de": _split("""
        Schmitz, Müller, Schumacher, Kessler, Mertes, Hilgers, Kohnen, Heinen, Jost, Reuter, Wintgens,
        Keutgen, Pauels, Lentz, Meyer, Cremer, Hermann, Gennen, Franzen, Hansen, Weber, Wagner, Fickers,
        Klinkenberg, Hick, Langer, Maraite, Kreusch, Mreyen, Radermacher, Drosson, Thelen, Backes, Lenz,
        Schröder, Krings, Zimmermann, Heck, Genten, Faymonville
    """),
    "it": _split("""
        Rossi, Russo, Ferrari, Esposito, Bianchi, Romano, Colombo, Ricci, Marino, Greco, Bruno, Gallo,
        Conti, De Luca, Costa, Giordano, Mancini, Rizzo, Lombardi, Moretti, Barbieri, Fontana, Santoro,
        Mariani, Rinaldi, Caruso, Ferrara, Galli, Martini, Leone, Longo, Gentile, Vitale, Serra, Coppola, De
        Santis, D'Angelo, Parisi, Conte, Messina, Di Marco, Cusumano, Lo Bue, Scifo, Di Rupo, Capone
    """),
    "es": _split("""
        García, Rodríguez, González, Fernández, López, Martínez, Sánchez, Pérez, Gómez, Martín, Jiménez,
        Ruiz, Hernández, Díaz, Moreno, Muñoz, Álvarez, Romero, Alonso, Gutiérrez, Navarro, Torres,
        Domínguez, Vázquez
    """),
    "pt": _split("""
        Silva, Santos, Ferreira, Pereira, Oliveira, Costa, Rodrigues, Martins, Jesus, Sousa, Fernandes,
        Gonçalves, Gomes, Lopes, Marques, Alves, Almeida, Ribeiro, Pinto, Carvalho, Teixeira, Moreira
    """),
    "pl": _split("""
        Nowak, Kowalski, Wiśniewski, Wójcik, Kowalczyk, Kamiński, Lewandowski, Zieliński, Szymański,
        Woźniak, Dąbrowski, Kozłowski, Jankowski, Mazur, Kwiatkowski, Krawczyk, Piotrowski, Grabowski,
        Nowakowski, Pawłowski, Michalski, Król
    """),
    "ro": _split("""
        Popa, Popescu, Pop, Radu, Dumitru, Stan, Stoica, Gheorghe, Matei, Ciobanu, Ionescu, Rusu, Munteanu,
        Constantin, Marin, Mihai, Lazăr, Dinu, Ene, Tudor, Moldovan, Barbu
    """),
    "ma": _split("""
        El Amrani, Benali, El Idrissi, Bouzid, Ait Ahmed, El Khattabi, Amrani, Azzouzi, Benhaddou, Bakkali,
        Boukhari, Chaouki, El Hamdaoui, El Ouardi, Haddouchi, Kaddouri, Lahlou, Mansouri, Moussaoui, Ouali,
        Rahmouni, Saidi, Tahiri, Zeroual, Ziani, El Kaddouri, Belhaj, Benamar, Chakir, Haddad, Ben Ali, El
        Bouzidi, Azaouagh, Boulahya, Achahbar
    """),
    "tr": _split("""
        Yılmaz, Kaya, Demir, Şahin, Çelik, Yıldız, Yıldırım, Öztürk, Aydın, Özdemir, Arslan, Doğan, Kılıç,
        Aslan, Çetin, Kara, Koç, Kurt, Özkan, Şimşek, Polat, Korkmaz, Erdoğan, Aktaş, Güneş, Emir
    """),
}

FIRST_NAMES_M: Final[dict[str, tuple[str, ...]]] = {
    "nl": _split("""
        Jan, Peter, Luc, Marc, Dirk, Bart, Tom, Wim, Koen, Geert, Johan, Patrick, Stefan, Kris, Filip,
        Pieter, Joris, Thomas, Jonas, Lucas, Arthur, Noah, Louis, Liam, Finn, Mathis, Lars, Wout, Jef,
        Frans, Jozef, Willy, Roger, Eddy, Rudi, Guido, Karel, Hendrik, Maarten, Jeroen, Sven, Kevin, Nick,
        Jens, Robbe, Seppe, Stijn, Ruben, Michiel, Dries, Brecht, Jasper, Simon, Vic, Warre, Lowie, Mats,
        Milan, Kobe, Senne, Tuur, Staf, Lode, Gust, Rik, Fons, Herman, Gilbert, Marcel, Albert, Ivo, Erik,
        Hugo, Paul, Werner, Raf, Danny, Frank, Gert, Hans, Jos, Ludo, Marnix, Nico, Pascal, Tim, Yves, Ward,
        Bram, Thijs, Jules, Leon, Daan, Cas, Lander, Jarne, Xander, Wannes, Toon, Hannes, Sander, Lennert
    """),
    "fr": _split("""
        Jean, Pierre, Michel, Philippe, Alain, Christian, Daniel, Jacques, Claude, André, Bernard, Marc,
        Didier, Eric, Olivier, Pascal, Thierry, Vincent, Laurent, Nicolas, François, Benoît, Frédéric,
        Sébastien, Julien, Maxime, Antoine, Hugo, Louis, Gabriel, Arthur, Jules, Nathan, Lucas, Théo, Noah,
        Victor, Adam, Martin, Raphaël, Romain, Guillaume, Quentin, Florian, Mathieu, Cédric, Grégory,
        Xavier, Yves, Georges, Roger, Marcel, René, Henri, Joseph, Albert, Guy, Jean-Marc, Jean-Pierre,
        Jean-Luc, Luc, Serge, Patrick, Fabrice, Damien, Jérôme, Arnaud, Benjamin, Simon, Alexandre, Thomas,
        Tom, Sacha, Léon, Émile, Lucien, Gaston, Fernand, Robert, Francis, José, Stéphane, Christophe,
        David, Geoffrey, Kevin, Loïc, Baptiste, Corentin, Martin, Augustin, Clément, Valentin, Nolan, Ethan,
        Timéo, Mathis, Eliott, Basile
    """),
    "de": _split("""
        Klaus, Jürgen, Günter, Helmut, Werner, Dieter, Stefan, Michael, Andreas, Thomas, Christian,
        Matthias, Jonas, Lukas, Felix, Leon, Paul, Jan, Tim, Niklas, Heinz, Josef, Karl, Hubert, Norbert
    """),
    "it": _split("""
        Giuseppe, Antonio, Giovanni, Salvatore, Francesco, Mario, Luigi, Angelo, Vincenzo, Pietro, Marco,
        Luca, Andrea, Matteo, Alessandro, Paolo, Roberto, Stefano, Davide, Fabio, Calogero, Enzo
    """),
    "es": _split("""
        Antonio, José, Manuel, Francisco, David, Juan, Javier, Daniel, Carlos, Jesús, Alejandro, Miguel,
        Rafael, Pablo, Sergio
    """),
    "pt": _split("""
        José, João, António, Manuel, Francisco, Carlos, Paulo, Pedro, Luís, Rui, Tiago, Miguel, Diogo,
        Rafael, Nuno
    """),
    "pl": _split("""
        Piotr, Krzysztof, Andrzej, Tomasz, Paweł, Marcin, Michał, Jakub, Łukasz, Mateusz, Kamil, Wojciech,
        Adam, Grzegorz, Marek
    """),
    "ro": _split("""
        Ion, Gheorghe, Vasile, Constantin, Alexandru, Andrei, Mihai, Ștefan, Florin, Adrian, Cristian,
        Daniel, Marian, Bogdan, Ionuț
    """),
    "ma": _split("""
        Mohamed, Ahmed, Mustapha, Abdelkader, Youssef, Karim, Rachid, Said, Hassan, Khalid, Omar, Ayoub,
        Bilal, Hamza, Ilyas, Adam, Rayan, Amine, Mehdi, Anas, Nabil, Driss
    """),
    "tr": _split("""
        Mehmet, Mustafa, Ahmet, Ali, Hüseyin, Hasan, İbrahim, İsmail, Osman, Yusuf, Murat, Emre, Burak,
        Kerem, Can, Emir
    """),
}

FIRST_NAMES_F: Final[dict[str, tuple[str, ...]]] = {
    "nl": _split("""
        Maria, Anna, Els, An, Ann, Katrien, Sofie, Sarah, Lies, Leen, Inge, Veerle, Ilse, Kathleen, Hilde,
        Nathalie, Evelien, Lotte, Emma, Louise, Marie, Olivia, Elise, Lena, Noor, Fien, Nina, Julie, Hanne,
        Ellen, Kim, Liesbeth, Griet, Mieke, Rita, Godelieve, Jeanne, Agnes, Paula, Martha, Marleen, Carine,
        Christiane, Annemie, Greet, Linda, Monique, Nicole, Chantal, Sabine, Tine, Eline, Jolien, Laura,
        Lore, Femke, Charlotte, Jana, Yana, Ine, Marthe, Lien, Elke, Joke, Karen, Kristien, Wendy, Vicky,
        Nele, Saar, Roos, Mila, Amber, Zoë, Jente, Hanna, Nore, Ella, Lisa, Luna, Marieke, Margriet, Hilda,
        Simonne, Denise, Irène, Lutgart, Mariette, Frieda, Gerda, Ria, Katleen, Heidi, Sandra, Evi, Silke,
        Febe, Lieze
    """),
    "fr": _split("""
        Marie, Anne, Catherine, Isabelle, Christine, Nathalie, Martine, Françoise, Monique, Nicole, Sylvie,
        Véronique, Sophie, Valérie, Cécile, Caroline, Stéphanie, Julie, Aurélie, Céline, Laura, Sarah,
        Camille, Léa, Emma, Louise, Alice, Chloé, Manon, Lucie, Juliette, Jeanne, Zoé, Élise, Clara,
        Charlotte, Pauline, Mélanie, Émilie, Justine, Amandine, Marion, Claire, Hélène, Béatrice, Brigitte,
        Danielle, Jacqueline, Josiane, Michèle, Simone, Yvonne, Germaine, Madeleine, Denise, Suzanne,
        Ginette, Colette, Paulette, Chantal, Dominique, Patricia, Anne-Marie, Marie-Claire, Marie-Christine,
        Ariane, Noémie, Inès, Margaux, Romane, Éléonore, Anaïs, Océane, Maëlle, Lina, Mila, Victoria,
        Jeannine, Andrée, Renée, Odette, Marcelle, Fabienne, Carine, Annick, Joëlle, Murielle, Virginie,
        Delphine, Audrey, Elodie, Margot, Apolline, Capucine, Agathe, Olivia, Adèle, Rose, Jade
    """),
    "de": _split("""
        Maria, Anna, Gertrud, Ursula, Monika, Petra, Sabine, Andrea, Claudia, Stefanie, Julia, Laura, Lea,
        Lena, Hannah, Sophie, Katharina, Anja, Birgit, Elke, Helga, Renate, Ingrid, Christa, Marlene
    """),
    "it": _split("""
        Maria, Anna, Giuseppina, Rosa, Angela, Giovanna, Teresa, Lucia, Carmela, Francesca, Giulia, Chiara,
        Sara, Martina, Valentina, Elena, Laura, Silvia, Federica, Alessandra, Concetta
    """),
    "es": _split("""
        María, Carmen, Ana, Isabel, Laura, Cristina, Marta, Lucía, Pilar, Elena, Paula, Sara, Rosa, Raquel,
        Sofía
    """),
    "pt": _split("""
        Maria, Ana, Isabel, Manuela, Fernanda, Teresa, Sandra, Cláudia, Sofia, Inês, Beatriz, Mariana,
        Joana, Rita, Catarina
    """),
    "pl": _split("""
        Anna, Maria, Katarzyna, Małgorzata, Agnieszka, Barbara, Ewa, Magdalena, Joanna, Aleksandra, Monika,
        Natalia, Karolina, Zofia, Julia
    """),
    "ro": _split("""
        Maria, Elena, Ioana, Ana, Mihaela, Andreea, Cristina, Gabriela, Alexandra, Daniela, Florentina,
        Georgiana, Adriana, Roxana, Alina
    """),
    "ma": _split("""
        Fatima, Khadija, Aicha, Malika, Naima, Samira, Nadia, Latifa, Hanane, Saida, Imane, Sara, Yasmina,
        Salma, Nora, Houda, Meryem, Aya, Hajar, Soukaina, Kawtar
    """),
    "tr": _split("""
        Fatma, Ayşe, Emine, Hatice, Zeynep, Elif, Meryem, Sultan, Hülya, Özlem, Esra, Büşra, Merve, Ecrin,
        Zehra, Defne
    """),
}

STREETS: Final[dict[str, tuple[str, ...]]] = {
    "nl": _split("""
        Kerkstraat, Stationsstraat, Dorpsstraat, Molenstraat, Nieuwstraat, Schoolstraat, Kapelstraat,
        Beekstraat, Hoogstraat, Markt, Grote Markt, Kasteelstraat, Heirbaan, Steenweg, Veldstraat,
        Lindenlaan, Kouter, Bosstraat, Meersstraat, Ringlaan, Populierenlaan, Kastanjelaan, Eikenlaan,
        Berkenlaan, Rozenstraat, Tulpenstraat, Leopoldlaan, Koning Albertstraat, Koningin Astridlaan, Prins
        Boudewijnlaan, Sint-Jansstraat, Sint-Pietersstraat, Veldweg, Kapellestraat, Brugstraat,
        Gentsesteenweg, Antwerpsesteenweg, Mechelsesteenweg, Brusselsesteenweg, Leuvensesteenweg,
        Vaartstraat, Zandstraat, Hoekstraat, Broekstraat, Akkerstraat, Weverstraat, Smisstraat,
        Bakkerstraat, Nijverheidsstraat, Industrieweg, Stationsplein, Vredestraat, Groenstraat, Heidestraat,
        Dennenlaan, Parklaan, Wijngaardstraat, Kloosterstraat, Abdijstraat, Kruisstraat, Boomgaardstraat,
        Sportlaan, Guido Gezellestraat, Hendrik Consciencestraat, Pieter Breughelstraat, Rubensstraat,
        Vondelstraat, Peter Benoitlaan, Pastorijstraat, Gemeenteplein, Lange Lozanastraat, Korte
        Nieuwstraat, Hollestraat, Bergstraat, Blauwe Steen, Heuvelstraat, Meerstraat, Lijsterlaan,
        Merelstraat
    """),
    "fr": _split("""
        Rue de la Station, Rue de l'Église, Rue du Moulin, Rue Haute, Rue Neuve, Grand-Place, Place
        Communale, Rue de la Gare, Rue du Centre, Chaussée de Bruxelles, Chaussée de Namur, Chaussée de
        Louvain, Rue des Écoles, Rue du Château, Rue de la Chapelle, Rue des Champs, Rue du Bois, Rue de la
        Fontaine, Rue du Pont, Avenue Albert Ier, Avenue Reine Astrid, Rue Léopold, Rue Royale, Rue de
        France, Rue de Liège, Rue de Mons, Rue de Namur, Rue des Tilleuls, Rue des Peupliers, Avenue des
        Acacias, Rue des Roses, Rue de la Paix, Rue de la Victoire, Rue du Marché, Rue Saint-Pierre, Rue
        Saint-Jean, Rue Notre-Dame, Rue des Alliés, Rue de l'Industrie, Rue du Travail, Rue de la Croix, Rue
        Émile Vandervelde, Rue Jules Destrée, Rue Victor Hugo, Avenue de la Libération, Rue des Prés, Rue du
        Calvaire, Rue de la Carrière, Rue des Mineurs, Rue des Combattants, Rue du Village, Rue de la
        Montagne, Rue des Fusillés, Rue Albert Ier, Avenue des Sports, Rue du Stade, Rue des Vergers, Rue
        des Jardins, Rue de la Loi, Avenue Louise, Chaussée de Waterloo, Rue du Midi, Boulevard Anspach, Rue
        Blaes
    """),
    "de": _split("""
        Hauptstraße, Kirchstraße, Bahnhofstraße, Schulstraße, Dorfstraße, Aachener Straße, Bergstraße,
        Lindenstraße, Gartenstraße, Mühlenweg, Marktplatz, Neustraße, Klosterstraße, Talstraße, Waldstraße,
        Feldweg, Rathausplatz, Herbesthaler Straße, Malmedyer Straße, Klötzerbahn
    """),
}

# Foreign places of residence of the bis register (non-residents): country → (city, postal code) pairs,
# and the street-name language used there.
FOREIGN_PLACES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "FR": (
        ("Lille", "59000"),
        ("Roubaix", "59100"),
        ("Tourcoing", "59200"),
        ("Maubeuge", "59600"),
        ("Valenciennes", "59300"),
        ("Dunkerque", "59140"),
        ("Paris", "75011"),
        ("Longwy", "54400"),
    ),
    "NL": (
        ("Maastricht", "6211 AB"),
        ("Breda", "4811 AA"),
        ("Roosendaal", "4701 AB"),
        ("Terneuzen", "4531 EA"),
        ("Eindhoven", "5611 AB"),
        ("Rotterdam", "3011 AA"),
    ),
    "DE": (("Aachen", "52062"), ("Köln", "50667"), ("Trier", "54290"), ("Monschau", "52156")),
    "LU": (("Luxembourg", "L-1009"), ("Esch-sur-Alzette", "L-4001"), ("Ettelbruck", "L-9001")),
    "PL": (("Warszawa", "00-001"), ("Kraków", "30-001"), ("Wrocław", "50-001"), ("Łódź", "90-001")),
    "RO": (("București", "010011"), ("Cluj-Napoca", "400001"), ("Iași", "700001"), ("Timișoara", "300001")),
    "PT": (("Lisboa", "1000-001"), ("Porto", "4000-001"), ("Braga", "4700-001")),
    "IT": (("Roma", "00118"), ("Milano", "20121"), ("Napoli", "80121"), ("Palermo", "90121")),
    "ES": (("Madrid", "28001"), ("Barcelona", "08001"), ("Valencia", "46001"), ("Sevilla", "41001")),
}

FOREIGN_STREETS: Final[dict[str, tuple[str, ...]]] = {
    "FR": STREETS["fr"][:30],
    "LU": STREETS["fr"][:30],
    "NL": STREETS["nl"][:30],
    "DE": STREETS["de"],
    "PL": ("ul. Marszałkowska", "ul. Długa", "ul. Polna", "ul. Leśna", "ul. Słoneczna", "ul. Krótka"),
    "RO": ("Strada Mihai Eminescu", "Strada Unirii", "Strada Libertății", "Bulevardul Independenței"),
    "PT": ("Rua Augusta", "Rua da Liberdade", "Avenida da República", "Rua do Comércio"),
    "IT": ("Via Roma", "Via Garibaldi", "Via Mazzini", "Corso Italia", "Via Dante"),
    "ES": ("Calle Mayor", "Calle Real", "Avenida de la Constitución", "Calle del Sol"),
}

# Name origin used for people of a given foreign nationality.
NATIONALITY_ORIGIN: Final[dict[str, str]] = {
    "FR": "fr",
    "LU": "fr",
    "NL": "nl",
    "DE": "de",
    "PL": "pl",
    "RO": "ro",
    "PT": "pt",
    "IT": "it",
    "ES": "es",
    "MA": "ma",
    "TR": "tr",
    "BE": "nl",
}
